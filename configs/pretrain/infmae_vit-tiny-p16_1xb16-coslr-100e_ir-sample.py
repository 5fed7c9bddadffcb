# The demo: the paper's recipe scaled down to a tiny InfMAE pre-trained for
# 100 epochs (600 iterations) on the generated infrared sample folder
# (`make sample-data` writes data/ir_sample/): about 3 minutes on 2 CPU cores.
# Every 25 epochs it measures held-out reconstruction quality against trivial
# fills on data/ir_sample_heldout/ (written by `make demo`).
_base_ = [
    './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py',
    './_base_/heldout_reconstruction.py',
]

model = dict(
    backbone=dict(arch='tiny'),
    neck=dict(embed_dim=192, decoder_embed_dim=128, decoder_num_heads=4))

train_dataloader = dict(
    batch_size=16, num_workers=2, dataset=dict(data_root='data/ir_sample/'))

# fp32 (AMP needs a GPU) and a larger lr for the short schedule.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05),
    constructor=_base_.optim_wrapper.constructor,
    paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)

# Warm-up over the first 5% of the run, cosine to 1e-5 at its end, whatever
# train_cfg.max_epochs is.
param_scheduler = [
    dict(
        _base_.param_scheduler[0],
        warmup_fraction=0.05,
        warmup_start_factor=1e-3,
        eta_min=1e-5)
]

val_dataloader = dict(
    batch_size=8, dataset=dict(data_root='data/ir_sample_heldout/'))

train_cfg = dict(max_epochs=100, val_interval=25)
default_hooks = dict(
    logger=dict(interval=2), checkpoint=dict(interval=10, max_keep_ckpts=2))
randomness = dict(seed=0, diff_rank_seed=False)
resume = False
auto_scale_lr = dict(enable=False)
