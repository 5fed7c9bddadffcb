# Swapping InfMAE into an existing mmseg config: mmseg's own UperNet-R50
# ADE20K recipe with the backbone replaced, nothing else copied.
_base_ = [
    'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
    '../_base_/check_finite_loss.py',
    '../_base_/models/infmae-base.py',
]

model = dict(
    pretrained=None,
    backbone=dict(_base_.infmae_backbone, img_size=512),
    neck=dict(type='InfMAEPyramidNeck', in_channels=(256, 384, 768)),
    decode_head=dict(in_channels=[256, 384, 768, 768]),
    auxiliary_head=dict(in_channels=768))
# Crash-safe checkpoint saves (the schedule's own settings are kept).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
# mmseg's 160k schedule (poly, power 0.9, to 1e-4) without its written-in
# end: the runner sets train_cfg.max_iters, so shorter or longer runs decay
# to their own end.
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, by_epoch=False)
]
