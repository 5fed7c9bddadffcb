# Mask R-CNN + InfMAE-B on M3FD-inf (paper Table 2: 56.2 mAP / 88.1 AP50).
# M3FD has boxes only: the mask branch trains on box-shaped masks (the
# converter writes each box as its polygon) and only boxes are evaluated.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './_base_/models/infmae-base_pyramid-fpn.py',
    './_base_/datasets/m3fd_inf.py',
    './_base_/schedules/adamw-layerdecay-cosine-25e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['infmae_mm'], allow_failed_imports=False)

model = dict(
    data_preprocessor=_base_.infmae_data_preprocessor,
    backbone=_base_.infmae_backbone,
    neck=_base_.infmae_neck,
    roi_head=dict(
        bbox_head=dict(num_classes=6), mask_head=dict(num_classes=6)))
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=5, max_keep_ckpts=3))
