# Cascade R-CNN + InfMAE-B on M3FD-inf (paper Table 2: 55.8 mAP / 86.3
# AP50), with mmdet's cascade mask head trained on box-shaped masks (see the
# Mask R-CNN config).
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './_base_/models/infmae-base_pyramid-fpn.py',
    './_base_/datasets/m3fd_inf.py',
    './_base_/schedules/adamw-layerdecay-cosine-25e.py',
]

# Lists replace whole: the three stages restated with 6 classes.
bbox_heads = [
    dict(head, num_classes=6) for head in _base_.model.roi_head.bbox_head
]
model = dict(
    _base_.infmae_detector,
    roi_head=dict(bbox_head=bbox_heads, mask_head=dict(num_classes=6)))
