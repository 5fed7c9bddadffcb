# Mask R-CNN + InfMAE-B on M3FD-inf (paper Table 2: 56.2 mAP / 88.1 AP50).
# M3FD has boxes only: the mask branch trains on box-shaped masks (the
# converter writes each box as its polygon) and only boxes are evaluated.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './_base_/models/infmae-base_pyramid-fpn.py',
    './_base_/datasets/m3fd_inf.py',
    './_base_/schedules/adamw-layerdecay-cosine-25e.py',
]

model = dict(
    _base_.infmae_detector,
    roi_head=dict(
        bbox_head=dict(num_classes=6), mask_head=dict(num_classes=6)))
