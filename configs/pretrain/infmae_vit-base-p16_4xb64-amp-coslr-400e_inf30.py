# The paper's Inf30 pre-training recipe (section 5.1): 400 epochs, cosine
# schedule after 40 warm-up epochs (10% of the run), AdamW (betas 0.9/0.95,
# weight decay 0.05, none on norms and biases), base lr 1.5e-4 for a batch of
# 256 (4 GPUs x 64), AMP. Put the images under data/Inf30/ (any folder
# layout) or set train_dataloader.dataset.data_root.
_base_ = [
    './_base_/models/infmae_vit-base-p16.py',
    './_base_/datasets/inf30_bs64_infmae.py',
    './_base_/feature_extraction.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/check_finite_loss.py',
]

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW',
        lr=1.5e-4 * 256 / 256,
        betas=(0.9, 0.95),
        weight_decay=0.05),
    # The official parameter groups: no decay on 1-D tensors and biases;
    # logged as one table.
    constructor='CompactLogOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={
        'norm': dict(decay_mult=0.),
        '.bias': dict(decay_mult=0.),
    }))

# Warm-up over the first 10% of the run (the paper's 40 of 400 epochs), then
# cosine to 0 at the end. No `end`: the runner sets it to train_cfg.max_epochs,
# so a shorter or longer run keeps the same shape.
param_scheduler = [
    dict(
        type='WarmupCosineLR',
        warmup_fraction=0.1,
        warmup_start_factor=1e-4,
        eta_min=0.,
        by_epoch=True,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=400)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3))

randomness = dict(seed=0, diff_rank_seed=True)
# Resume automatically from the latest checkpoint in the work dir.
resume = True
# lr = 1.5e-4 x total batch / 256 when run on another number of GPUs.
auto_scale_lr = dict(base_batch_size=256)
