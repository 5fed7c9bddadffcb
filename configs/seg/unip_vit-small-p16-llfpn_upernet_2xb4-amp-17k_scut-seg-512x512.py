# UperNet + LL-FPN on UNIP-S, SCUT-Seg (10 classes): the released
# `upernet_vit_*_12_512_slide_17k_scut.py` (16,800 iterations, 1,700
# warm-up, validation every 800) with layer decay 0.85.
_base_ = [
    './_base_/models/upernet_unip-vit-small-p16_llfpn.py',
    './_base_/datasets/unip_ir-seg_512x512.py',
    './_base_/schedules/unip_adamw-layerdecay0.85-poly-14k.py',
    'mmseg::_base_/default_runtime.py',
]

data_root = 'data/SCUT_seg/'
dataset = dict(
    type='SCUTSegDataset',
    data_root=data_root,
    data_prefix=dict(img_path='images', seg_map_path='labels'))
train_dataloader = dict(dataset=dict(**dataset, ann_file='train.txt'))
val_dataloader = dict(dataset=dict(**dataset, ann_file='val.txt'))
test_dataloader = val_dataloader

model = dict(
    decode_head=dict(num_classes=10), auxiliary_head=dict(num_classes=10))

max_iters = 16800
param_scheduler = [
    dict(_base_.param_scheduler[0], warmup_fraction=1700 / max_iters)
]
train_cfg = dict(max_iters=max_iters)
