# The test loop of a pre-training config, and what mmpretrain's model APIs
# read from it: `FeatureExtractor(NAME_OR_CONFIG)` builds its image pipeline
# from test_dataloader.dataset.pipeline, dropping the LoadImageFromFile step
# (it decodes the path or array itself), so images given to it are turned
# gray, resized (short side 224), centre-cropped and normalised like the
# held-out set below. `mim test mmpretrain CONFIG --checkpoint CKPT` measures
# held-out reconstruction quality (ReconstructionMetric: masked-patch MSE /
# PSNR beside trivial fills) on the images under test_root, under the masks
# of the IAMMaskGenerator step (keep it equal to the training pipeline's).
test_root = 'data/Inf30_heldout/'

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ConvertToGray'),
    dict(
        type='ResizeEdge',
        scale=224,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='IAMMaskGenerator', scorer='intensity', stride=4),
    dict(
        type='PackInputs',
        algorithm_keys=['iam_mask'],
        meta_keys=['img_path', 'sample_idx']),
]
test_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='InfraredImageFolder',
        data_root=test_root,
        data_prefix='',
        with_label=False,
        config_key='test_dataloader.dataset',
        pipeline=test_pipeline))
test_evaluator = dict(type='ReconstructionMetric')
test_cfg = dict()
