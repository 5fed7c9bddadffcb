# An unlabeled folder of infrared images (Inf30 or your own), searched
# recursively. 8-bit gray images are read as 3 identical channels; 16-bit
# ones are stretched per image to 0-255 with a warning (see the _ir16bit
# config to choose the mapping). Unreadable files (truncated, empty, not an
# image) are skipped with a warning and a running count; an empty folder
# fails at start.
_base_ = './ir_image_folder.py'

dataset_type = 'InfraredImageFolder'
data_root = 'data/Inf30/'
# The one field IAMMaskGenerator writes
# (infmae_mm.models.masking.IAM_MASK_KEY).
iam_mask_keys = ['iam_mask']
# Information-aware masking on the final crop: rank the 16x16 patches by
# their mean gray value and keep the first of every 4 (25% visible). The
# masking ablations change this step: dict(_base_.iam_mask_generator, ...).
iam_mask_generator = dict(
    type='IAMMaskGenerator', scorer='intensity', stride=4)

train_pipeline = [
    dict(type='LoadThermalImage'),
    *_base_.mae_crop_flip,
    iam_mask_generator,
    dict(type='PackInputs', algorithm_keys=iam_mask_keys),
]

train_dataloader = dict(
    _base_.pretrain_loader,
    batch_size=64,
    num_workers=8,
    dataset=dict(
        _base_.ir_image_folder,
        type=dataset_type,
        data_root=data_root,
        pipeline=train_pipeline))
