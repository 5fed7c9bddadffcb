# An unlabeled folder of infrared images (Inf30 or your own), searched
# recursively. 8-bit gray images are read as 3 identical channels; 16-bit
# ones are stretched per image to 0-255 with a warning (see the _ir16bit
# config to choose the mapping). Unreadable files (truncated, empty, not an
# image) are skipped with a warning and a running count; an empty folder
# fails at start.
dataset_type = 'InfraredImageFolder'
data_root = 'data/Inf30/'
ir_extensions = ('.jpg', '.jpeg', '.png', '.bmp', '.pgm', '.tif', '.tiff')
# The one field IAMMaskGenerator writes
# (infmae_mm.models.masking.IAM_MASK_KEY).
iam_mask_keys = ['iam_mask']

train_pipeline = [
    dict(type='LoadThermalImage'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    # Information-aware masking on the final crop: rank the 16x16 patches by
    # their mean gray value and keep the first of every 4 (25% visible).
    dict(type='IAMMaskGenerator', scorer='intensity', stride=4),
    dict(type='PackInputs', algorithm_keys=iam_mask_keys),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='',
        with_label=False,
        extensions=ir_extensions,
        pipeline=train_pipeline))
