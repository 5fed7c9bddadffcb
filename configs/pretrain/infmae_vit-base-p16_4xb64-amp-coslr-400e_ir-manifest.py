# The paper's recipe (infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py) on a
# curated set: only the dataset changes, to the images listed in
# data/curated/manifest.txt (one path per line, relative to data_root) instead
# of every image under a folder. Write the manifest with
#   python tools/data/curate_pretrain_data.py RAW_DIR ... --out data/curated
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

train_dataloader = dict(
    dataset=dict(data_root='data/curated/', ann_file='manifest.txt'))
