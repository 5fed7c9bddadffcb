# FCN + InfMAE-B on MSRS-inf (paper Table 1: 72.0 mIoU / 80.0 mAcc). The FCN
# head reads F3 (stride 16, 768-d), the auxiliary head F2, both straight from
# the encoder: no neck, since no head reads the pyramid's F4 and its unused
# parameters would stop DistributedDataParallel (which runs without
# find_unused_parameters).
_base_ = './upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=768,
        in_index=2,
        channels=256,
        num_convs=2,
        concat_input=True,
        dropout_ratio=0.1,
        num_classes=9,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(in_channels=384, in_index=1))
