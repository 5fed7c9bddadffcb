# UperNet + LL-FPN on UNIP-S, MSRS-inf: the package's MSRS protocol (480x640
# crops, 24k iterations, batch 2, as the InfMAE UperNet config) with UNIP's
# fine-tuning model, normalisation and layer decay 0.85; compare it with
# upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py.
_base_ = [
    './_base_/models/upernet_unip-vit-small-p16_llfpn.py',
    './_base_/datasets/msrs_inf.py',
    './_base_/schedules/unip_adamw-layerdecay0.85-poly-24k.py',
    'mmseg::_base_/default_runtime.py',
]

model = dict(
    data_preprocessor=dict(size=None, size_divisor=32),
    backbone=dict(img_size=(480, 640)),
    decode_head=dict(num_classes=9),
    auxiliary_head=dict(num_classes=9),
    test_cfg=dict(_delete_=True, mode='whole'))
