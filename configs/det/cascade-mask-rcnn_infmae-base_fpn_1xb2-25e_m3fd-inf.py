# Cascade R-CNN + InfMAE-B on M3FD-inf (paper Table 2: 55.8 mAP / 86.3
# AP50), with mmdet's cascade mask head trained on box-shaped masks (see the
# Mask R-CNN config).
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
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
        # Lists replace whole: restate the three stages with 6 classes.
        bbox_head=[
            dict(head, num_classes=6)
            for head in _base_.model.roi_head.bbox_head
        ],
        mask_head=dict(num_classes=6)))
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=5, max_keep_ckpts=3))
