# The Inf30 pipeline on a curated set: instead of every image found under a
# folder, the images listed in data_root/manifest.txt (one path per line,
# relative to data_root), as written by tools/data/curate_pretrain_data.py.
_base_ = './inf30_bs64_infmae.py'

data_root = 'data/curated/'
train_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='manifest.txt'))
