# DDG added to MAE (DuGI-MAE paper Table 6): mmpretrain's MAE ViT-B
# (random 75% masking, 8-block decoder, per-patch normalised target) on
# Inf-590K with the infrared statistics, and the paper-form AFDM +
# frequency-guided attention bridge between its encoder and decoder
# (type='MAEWithDDG'; the cls token passes the bridge unchanged).
# Recipe: MAE's 400-epoch schedule at a total batch of 256 (4 GPUs x 64),
# lr 1.5e-4 x 256 / 256.
_base_ = [
    'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-400e_in1k.py',
    '../../_base_/check_finite_loss.py',
    '../_base_/models/dugi_ddg.py',
    '../_base_/datasets/ir_image_folder.py',
]
custom_imports = dict(imports=['infmae_mm'], allow_failed_imports=False)

model = dict(
    type='MAEWithDDG',
    data_preprocessor=dict(
        mean=[0.425 * 255] * 3, std=[0.200 * 255] * 3, to_rgb=False),
    guidance=_base_.ddg_guidance)

# The pre-training configs' data: thermal images, MAE's crop and flip.
train_pipeline = [
    dict(type='LoadThermalImage'),
    *_base_.mae_crop_flip,
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    # Restated: inherited through 'mmpretrain::' it would carry a _scope_
    # key that the runner passes on to the function.
    collate_fn=dict(_delete_=True, **_base_.pretrain_loader.collate_fn),
    dataset=dict(
        _base_.ir_image_folder,
        _delete_=True,
        data_root='data/Inf-590K/',
        pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4 * 256 / 256),
    paramwise_cfg=dict(custom_keys=_base_.ddg_no_decay_keys))
auto_scale_lr = dict(base_batch_size=256)
# The package's crash-safe checkpoints, as in the other pre-training configs.
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3))
