# What the segmentation and IRSTD dataset bases share: thermal images (gray
# read as 3 identical channels, 16-bit stretched per image, as in
# pre-training) with mmseg's standard augmentation at 512 (random rescale of
# (2048, 512) by 0.5-2x, 512x512 crops with at most 75% of one class, flip,
# photometric distortion; test images resized to (2048, 512) keeping the
# ratio) and the loaders: infinite shuffled sampling for training, one image
# per step for validation and testing. A dataset base sets the datasets (type,
# root, splits) and, for another size, rewrites the sized steps:
#   train_pipeline = [
#       dict(step, scale=SCALE) if step.type == 'RandomResize' else
#       dict(step, crop_size=CROP) if step.type == 'RandomCrop' else step
#       for step in _base_.train_pipeline]
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
# Validation and testing: one image a step, in order.
val_dataloader = dict(
    train_dataloader,
    batch_size=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
