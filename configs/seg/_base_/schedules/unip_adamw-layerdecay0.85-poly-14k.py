# UNIP's fine-tuning schedule (released SODA scripts): 14,400 iterations,
# poly decay (power 1) to 0 with 1,500 linear warm-up iterations (ratio
# 1e-6); AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05 (not on 1-D
# tensors and biases; the cls token and position table are decayed, as in
# the official constructor); layer-wise lr decay 0.85 (the scripts' value,
# the configs say 0.65): lr scale 0.85 ** (13 - depth), depth 0 for the
# patch embedding / cls / position, i + 1 for block i, 13 for neck and
# heads; fp16 (apex O1 in the official code, AMP here).
_base_ = [
    'mmseg::_base_/schedules/schedule_20k.py',
    '../../../_base_/check_finite_loss.py'
]

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='InfMAELayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.85))

max_iters = 14400
val_interval = 800
# As mmcv 1.x ran them (the official runs): poly decay from iteration 0 to
# the end of the run, multiplied during the warm-up (1,500 of 14,400
# iterations) by a factor rising linearly from 1e-6 to 1. No `end`: the
# runner sets train_cfg.max_iters, so warm-up and decay follow the run's
# length. A leaf changes the warm-up with
# dict(_base_.param_scheduler[0], warmup_fraction=N / max_iters).
param_scheduler = [
    dict(
        type='WarmupPolyLR',
        warmup_fraction=1500 / max_iters,
        warmup_start_factor=1e-6,
        power=1.0,
        eta_min=0.0,
        decay_begins='at_begin',
        by_epoch=False),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=val_interval,
        max_keep_ckpts=3,
        save_best='mIoU'))
