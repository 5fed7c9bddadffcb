# The paper's recipe (infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py) on a
# curated set: only the dataset changes, to the images listed in
# data/curated/manifest.txt as in _base_/datasets/ir_manifest_bs64_infmae.py
# (config bases may not overlap, so its two values are repeated here; a test
# keeps them equal). Write the manifest with
#   python tools/data/curate_pretrain_data.py RAW_DIR ... --out data/curated
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

train_dataloader = dict(
    dataset=dict(data_root='data/curated/', ann_file='manifest.txt'))
