# The demo: a tiny InfMAE pre-trained for 20 epochs on the generated infrared
# sample folder (`make sample-data` writes data/ir_sample/), on one CPU or GPU
# in a few minutes. The recipe is the paper's, scaled down.
_base_ = [
    './_base_/models/infmae_vit-base-p16.py',
    './_base_/datasets/inf30_bs64_infmae.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='tiny'),
    neck=dict(embed_dim=192, decoder_embed_dim=128, decoder_num_heads=4))

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(data_root='data/ir_sample/'))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'norm': dict(decay_mult=0.),
        '.bias': dict(decay_mult=0.),
    }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=18,
        eta_min=1e-5,
        by_epoch=True,
        begin=2,
        end=20,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=2),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2))
randomness = dict(seed=0)
