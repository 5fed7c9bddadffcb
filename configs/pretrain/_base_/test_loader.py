# The test loader of the pre-training configs, and what mmpretrain's model
# APIs read from it: `FeatureExtractor(NAME_OR_CONFIG)` builds its image
# pipeline from test_dataloader.dataset.pipeline, dropping the
# LoadImageFromFile step (it decodes the path or array itself), so images
# given to it, gray or colour, are turned gray (3 identical channels),
# resized (short side 224, bicubic) and centre-cropped like the held-out
# images under test_root. An algorithm's base (feature_extraction.py for
# InfMAE, unip_feature_extraction.py) adds its steps before PackInputs and
# its metric.
test_root = 'data/Inf30_heldout/'

gray_center_crop = [
    dict(type='LoadImageFromFile'),
    dict(type='ConvertToGray'),
    dict(
        type='ResizeEdge',
        scale=224,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
]
test_meta_keys = ['img_path', 'sample_idx']
test_pipeline = [
    *gray_center_crop,
    dict(type='PackInputs', meta_keys=test_meta_keys),
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
test_cfg = dict()
