# What the pre-training recipes share (InfMAE, UNIP): mmpretrain's runtime
# with the non-finite-loss check; AdamW (betas 0.9/0.95, weight decay 0.05)
# under AMP with dynamic loss scaling, its parameter groups logged as one
# table; a linear warm-up from 1e-4 of the lr, then cosine to 0, both
# following train_cfg.max_epochs (no `end`: the runner sets it, so a
# shorter or longer run keeps the same shape); epoch-based training,
# crash-safe checkpoints (3 kept), LoggerHook every 50 iterations, seed 0
# per rank, automatic resume from the latest checkpoint in the work dir.
# A recipe sets the lr, the weight-decay exemptions (paramwise_cfg), the
# warm-up fraction, the epochs and the checkpoint interval.
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../../../_base_/check_finite_loss.py',
]

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', betas=(0.9, 0.95), weight_decay=0.05),
    constructor='CompactLogOptimWrapperConstructor')
param_scheduler = [
    dict(
        type='WarmupCosineLR',
        warmup_start_factor=1e-4,
        eta_min=0.,
        by_epoch=True,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='AtomicCheckpointHook', max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
resume = True
