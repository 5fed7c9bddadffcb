# UperNet + LL-FPN on UNIP-S, MFNet thermal (9 classes): the released
# `upernet_vit_*_12_512_slide_10k_mfnet.py` (9,800 iterations, 1,000 warm-up,
# validation every 700 on val + test) with layer decay 0.85.
_base_ = [
    './_base_/models/upernet_unip-vit-small-p16_llfpn.py',
    './_base_/datasets/unip_ir-seg_512x512.py',
    './_base_/schedules/unip_adamw-layerdecay0.85-poly-14k.py',
    'mmseg::_base_/default_runtime.py',
]

data_root = 'data/MFNet_thermal/'
dataset = dict(
    type='MFNetThermalDataset',
    data_root=data_root,
    data_prefix=dict(img_path='thermal_imgs', seg_map_path='labels'))
train_dataloader = dict(dataset=dict(**dataset, ann_file='train.txt'))
val_dataloader = dict(dataset=dict(**dataset, ann_file='val_test.txt'))
test_dataloader = dict(dataset=dict(**dataset, ann_file='test.txt'))

model = dict(
    decode_head=dict(num_classes=9), auxiliary_head=dict(num_classes=9))

max_iters = 9800
val_interval = 700
param_scheduler = [
    dict(_base_.param_scheduler[0], warmup_fraction=1000 / max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(checkpoint=dict(interval=val_interval))
