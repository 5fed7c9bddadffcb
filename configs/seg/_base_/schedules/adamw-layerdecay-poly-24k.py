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

param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        by_epoch=False,
        begin=1500,
        end=24000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=24000, val_interval=2400)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=2400,
        max_keep_ckpts=3,
        save_best='mIoU'))
