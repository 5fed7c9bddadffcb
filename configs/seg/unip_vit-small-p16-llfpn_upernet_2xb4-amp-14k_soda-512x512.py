# UperNet + LL-FPN on UNIP-S, SODA infrared (21 classes): the released
# `upernet_vit_small_12_512_slide_14k_soda.py` with the scripts' layer decay
# 0.85; 2 GPUs x 4 images.
_base_ = [
    './_base_/models/upernet_unip-vit-small-p16_llfpn.py',
    './_base_/datasets/unip_ir-seg_512x512.py',
    './_base_/schedules/unip_adamw-layerdecay0.85-poly-14k.py',
    'mmseg::_base_/default_runtime.py',
]

data_root = 'data/SODA/InfraredSemanticLabel/'
dataset = dict(
    type='SODADataset',
    data_root=data_root,
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassPNG'))
train_dataloader = dict(dataset=dict(**dataset, ann_file='train_infrared.txt'))
val_dataloader = dict(dataset=dict(**dataset, ann_file='test_infrared.txt'))
test_dataloader = val_dataloader

model = dict(
    decode_head=dict(num_classes=21), auxiliary_head=dict(num_classes=21))
