# The paper's segmentation schedule (section 5.2): 24k iterations, poly decay
# after 1500 linear warm-up iterations, AdamW lr 1e-4 (MCMAE's value; the
# paper prints "10e-4"), weight decay 0.05, layer-wise lr decay 0.75 over the
# hybrid backbone (InfMAELayerDecayOptimWrapperConstructor).
_base_ = [
    'mmseg::_base_/schedules/schedule_20k.py',
    '../../../_base_/check_finite_loss.py'
]

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='InfMAELayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))

# Warm-up and decay follow train_cfg.max_iters (no `end`: the runner sets
# it): 1500 / 24000 of the run warms up, then poly decays to 0 at the last
# iteration. At 24k iterations this is exactly LinearLR(end=1500) +
# PolyLR(begin=1500, end=24000); `--cfg-options train_cfg.max_iters=N`
# scales both.
max_iters = 24000
param_scheduler = [
    dict(
        type='WarmupPolyLR',
        warmup_fraction=1500 / max_iters,
        warmup_start_factor=1e-6,
        power=1.0,
        eta_min=0.0,
        by_epoch=False),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2400)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=2400,
        max_keep_ckpts=3,
        save_best='mIoU'))
