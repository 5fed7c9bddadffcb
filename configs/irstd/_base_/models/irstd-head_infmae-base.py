# InfMAE-B for infrared small-target detection: the encoder, pyramid neck
# and infrared data preprocessor of the segmentation base (F1-F3 plus the F4
# of InfMAEPyramidNeck: strides 4/8/16/32, 256/384/768/768 channels), with
# the UperNet heads replaced by SmallTargetHead, which fuses the pyramid
# top-down at stride 4 and upsamples x2 x2 to a one-channel (sigmoid)
# target map at full input resolution.
_base_ = '../../../seg/_base_/models/upernet_infmae-base.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)

# What the one-channel target heads share (SmallTargetHead here,
# LightTargetHead in the -lighthead config): F1-F4 in, one sigmoid score
# thresholded at the field's 0.5 (mmseg's default for one channel is 0.3;
# IRSTDMetric re-thresholds seg_logits at 0.5 as well), a classifier bias
# starting at a 1 % target prior, and the losses: BCE keeps every pixel's
# score calibrated (the AUC); the soft IoU weighs each image's few target
# pixels as much as its background.
target_head = dict(
    in_channels=[256, 384, 768, 768],
    in_index=[0, 1, 2, 3],
    num_classes=2,
    out_channels=1,
    threshold=0.5,
    prior_prob=0.01,
    align_corners=False,
    loss_decode=[
        dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            avg_non_ignore=True,
            loss_weight=1.0,
            loss_name='loss_bce'),
        dict(type='SoftIoULoss', loss_weight=1.0),
    ])

model = dict(
    # The base pads training batches to a multiple of 32 (F4 exactly stride
    # 32, the head's output exactly the input size); test_cfg pads test
    # images too, and the segmentor crops the padding off the prediction
    # again (img_padding_size), so testing is at full resolution.
    data_preprocessor=dict(test_cfg=dict(size_divisor=32)),
    backbone=dict(img_size=512),
    decode_head=dict(
        target_head,
        _delete_=True,
        type='SmallTargetHead',
        channels=64,
        up_channels=[32, 16],
        num_convs=2,
        norm_cfg=norm_cfg),
    auxiliary_head=None)
