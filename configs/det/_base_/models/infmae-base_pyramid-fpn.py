# The InfMAE-B detection trunk shared by the detectors: infrared data
# preprocessing, the backbone with ViTDet-style windowed attention (16x16-token
# windows, global attention in blocks 2/5/8/10, relative position bias) for
# 1024x768 inputs (a 64x48 stage-3 grid), and InfMAEPyramidNeck (F1-F4,
# strides 4-32) feeding mmdet's FPN. Leaf configs plug these into an mmdet
# detector base; they are variables, not `model`, so that two bases never
# define the same key: a leaf sets `model = dict(infmae_detector, ...)`.
_base_ = '../../../_base_/models/infmae-base.py'

infmae_data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[0.425 * 255] * 3,
    std=[0.200 * 255] * 3,
    bgr_to_rgb=False,
    pad_mask=True,
    pad_size_divisor=32)

infmae_backbone = dict(
    _base_.infmae_backbone,
    img_size=(768, 1024),
    use_rel_pos_bias=True,
    window_size=16,
    global_attn_indexes=(2, 5, 8, 10),
    out_indices=(0, 1, 2))

infmae_neck = [
    dict(
        type='InfMAEPyramidNeck',
        in_channels=(256, 384, 768),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        # Its place in the config, for its width errors: the first neck of
        # the list (--cfg-options model.neck.0.in_channels=...).
        config_key='model.neck.0'),
    dict(
        type='FPN',
        in_channels=[256, 384, 768, 768],
        out_channels=256,
        num_outs=5),
]

# What the leaves merge into their mmdet detector.
infmae_detector = dict(
    data_preprocessor=infmae_data_preprocessor,
    backbone=infmae_backbone,
    neck=infmae_neck)
