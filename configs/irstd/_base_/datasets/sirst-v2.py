# SIRST-v2 (Dai et al., TGRS 2023; github.com/YimianDai/open-sirst-v2):
# 1,024 real infrared frames of varied sizes (135x96 to 1918x1080, median
# 640x512; 8-bit, some stored as RGB or palette PNGs, read as 3 channels),
# 514 with small targets and 510 target-free backgrounds, which count in Fa.
# Layout (the repository as cloned):
#   images/targets/<stem>.png, images/backgrounds/<stem>.png
#   annotations/masks/<stem>_pixels0.png   (0 / 255, every image has one)
#   splits/train_full.txt (512) + val_full.txt (256) = trainval_full.txt
#   (768), test_full.txt (256): bare stems, no folder.
# The split files do not say which folder a stem is in: the dataset looks
# each stem up in both image folders (data_prefix.img_path is a list).
# Train on train_full, select the checkpoint on val_full, test on
# test_full. For final numbers train on trainval_full with the schedule
# chosen on val_full and report the last checkpoint:
#   --cfg-options train_dataloader.dataset.ann_file=splits/trainval_full.txt
# The v1 splits (trainval_v1 / test_v1) reproduce the SIRST v1 benchmark.
_base_ = './irstd1k.py'

data_root = 'data/sirst-v2/'
data_prefix = dict(
    img_path=['images/targets', 'images/backgrounds'],
    seg_map_path='annotations/masks')
seg_map_suffix = '_pixels0.png'
crop_size = (512, 512)
# Native scale: the frames range from 135 to 1918 pixels wide, so resizing
# each to one base size (the IRSTD-1k pipeline) would shrink the targets of
# the large frames by up to 4x while testing is at full resolution. Instead
# a random rescale by 0.75-1.5x of the frame's own size, then a 512x512
# crop (smaller frames are padded in the batch with label 255, ignored).
train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(
        type='RandomChoice',
        transforms=[[dict(type='Resize', scale_factor=f, keep_ratio=True)]
                    for f in (0.75, 1.0, 1.25, 1.5)]),
    *_base_.train_pipeline[3:],
]
dataset = dict(
    data_root=data_root,
    data_prefix=data_prefix,
    seg_map_suffix=seg_map_suffix)
train_dataloader = dict(
    dataset=dict(
        dataset, ann_file='splits/train_full.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(dataset, ann_file='splits/val_full.txt'))
# The base tests on its validation split; here on test_full.
test_dataloader = dict(dataset=dict(dataset, ann_file='splits/test_full.txt'))
