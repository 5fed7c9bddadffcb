# UperNet on InfMAE-B: the encoder's F1-F3 plus the F4 of InfMAEPyramidNeck
# (strides 4/8/16/32, 256/384/768/768 channels) feed mmseg's UPerHead; an
# FCN auxiliary head on F3 (MCMAE's segmentation template).
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '../../../_base_/models/infmae-base.py'
]

norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    # Infrared statistics of pre-training; pad every side to a multiple of
    # 32 so that F4 is exactly stride 32.
    data_preprocessor=dict(
        mean=[0.425 * 255] * 3,
        std=[0.200 * 255] * 3,
        bgr_to_rgb=False,
        size_divisor=32),
    pretrained=None,
    backbone=dict(
        _base_.infmae_backbone, img_size=(480, 640), out_indices=(0, 1, 2)),
    neck=dict(
        type='InfMAEPyramidNeck',
        in_channels=(256, 384, 768),
        norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=[256, 384, 768, 768],
        channels=768,
        num_classes=9,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=768,
        in_index=2,
        channels=256,
        num_classes=9,
        norm_cfg=norm_cfg))
