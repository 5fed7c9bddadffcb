# Linear probing of UNIP-S on SODA (the released
# `linear_probing/linear_vit_small_12_512_slide_14k_soda.py`): the backbone
# is frozen (patch embedding, cls, position table, all 12 blocks); the
# outputs of blocks 4, 6, 8 and 12 (no norm) are resized to one size and
# concatenated (4 x 384 channels) and a single 1x1 convolution classifies
# them (FCNHead with no conv, no norm, no dropout). AdamW lr 1e-4 without
# layer decay, the fine-tuning schedule.
_base_ = './unip_vit-small-p16-llfpn_upernet_2xb4-amp-14k_soda-512x512.py'

vit_channels = 384
model = dict(
    backbone=dict(
        drop_path_rate=0., out_indices=[3, 5, 7, 11], frozen_stages=12),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=[vit_channels] * 4,
        in_index=[0, 1, 2, 3],
        input_transform='resize_concat',
        channels=vit_channels * 4,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.,
        num_classes=21,
        norm_cfg=None,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
