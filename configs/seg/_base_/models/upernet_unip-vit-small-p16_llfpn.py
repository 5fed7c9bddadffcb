# UperNet on UNIP's plain ViT with LL-FPN (the official UNIP_segmentation
# fine-tuning model): the output of the last block, without final norm, to
# strides 4/8/16/32 (LastLayerFPN), UPerHead with D channels, an FCN
# auxiliary head on the stride-16 level. The backbone is mmpretrain's
# VisionTransformer (BEiT-style layer scale initialised to 1, learnable
# position table, drop path rising to 0.1); the UNIP student's last block
# was distilled with 16 heads, its qkv weights are read with 6 here.
_base_ = 'mmseg::_base_/models/upernet_r50.py'
custom_imports = dict(
    imports=['infmae_mm', 'mmpretrain.models'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
vit_channels = 384
# tools/model_converters/unip_to_mm.py writes this file from the released
# `unip_vit_small_by_mae_large.pth`; a UNIP pre-training checkpoint of this
# package works as it is.
pretrained_checkpoint = 'checkpoints/unip_vit-small-p16_mae-large-l18_mm.pth'

model = dict(
    # UNIP's fine-tuning statistics: 0.380 / 0.188 of 255 on each channel.
    data_preprocessor=dict(
        mean=[96.9255] * 3,
        std=[47.8976] * 3,
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(512, 512)),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=512,
        patch_size=16,
        drop_path_rate=0.1,
        layer_scale_init_value=1.0,
        final_norm=False,
        out_type='featmap',
        out_indices=-1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=pretrained_checkpoint,
            prefix='backbone.')),
    neck=dict(
        type='LastLayerFPN', in_channels=vit_channels, norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=[vit_channels] * 4,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=vit_channels,
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=vit_channels,
        in_index=2,
        channels=256,
        num_convs=1,
        num_classes=21,
        norm_cfg=norm_cfg,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    # Sliding-window inference, 512 windows with stride 341.
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
