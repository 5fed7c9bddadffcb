# Held-out reconstruction quality during pre-training (optional: add this
# file to a pre-training config's _base_ list). After every
# `train_cfg.val_interval` epochs the model reconstructs the held-out images
# under fixed masks (the pipeline's IAMMaskGenerator, deterministic per image,
# and a random mask seeded by the file name with as many visible tokens) and
# ReconstructionMetric logs the masked-patch MSE / PSNR in gray levels beside
# three trivial fills (mean of the visible pixels, row-wise mean, OpenCV
# inpainting), so the log says whether the model beats them.
#
# Put held-out images (never trained on) under heldout_root, or set
# val_dataloader.dataset.ann_file to a manifest of paths relative to it.
# Use the same IAMMaskGenerator settings as the training pipeline.
# When that folder (or manifest) does not exist, e.g. the demo config run on
# your own folder with `--cfg-options train_dataloader.dataset.data_root=...`,
# HeldoutValLoop skips held-out validation with one logged warning naming it
# and training goes on; set val_dataloader.dataset.data_root to your held-out
# images to measure, or val_cfg.skip_if_missing=False to make it an error.
heldout_root = 'data/Inf30_heldout/'
heldout_size = 224

val_pipeline = [
    dict(type='LoadThermalImage'),
    dict(
        type='ResizeEdge',
        scale=heldout_size,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=heldout_size),
    dict(type='IAMMaskGenerator', scorer='intensity', stride=4),
    dict(
        type='PackInputs',
        algorithm_keys=['iam_mask'],
        meta_keys=['img_path', 'sample_idx']),
]
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='InfraredImageFolder',
        data_root=heldout_root,
        data_prefix='',
        with_label=False,
        config_key='val_dataloader.dataset',
        pipeline=val_pipeline))
val_evaluator = dict(type='ReconstructionMetric')
val_cfg = dict(type='HeldoutValLoop', skip_if_missing=True)
# How often: train_cfg.val_interval (epochs) in the leaf config.
