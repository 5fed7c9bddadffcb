# IRSTD-1k (ISNet, CVPR 2022): 1,001 real infrared images of 512x512 with
# pixel masks of small targets, split 800 trainval / 201 test by the field's
# trainval.txt / test.txt. Layout: see IRSTD1kDataset (images/, masks/ with
# 0/255 masks, mapped to labels 0/1 when loading). Gray PNGs are read as 3
# identical channels, as in pre-training. Loaders and loading steps of
# configs/_base_/datasets/thermal_seg.py.
_base_ = '../../../_base_/datasets/thermal_seg.py'

dataset_type = 'IRSTD1kDataset'
data_root = 'data/IRSTD-1k/'
crop_size = (512, 512)
train_pipeline = [
    *_base_.train_pipeline[:2],  # the image and its mask
    # The random scale of the ACM / DNANet-style loaders of the field (0.5x
    # to 2x of the base size). Masks are resized nearest-neighbour, so below
    # 1x a one-pixel target can drop out of its mask; narrow the range (e.g.
    # (1.0, 2.0)) if a set is dominated by such targets.
    dict(_base_.train_pipeline[2], scale=crop_size),
    # No cat_max_ratio: the background is > 99 % of every crop, so mmseg's
    # category-balance check would only waste its 10 retries.
    dict(type='RandomCrop', crop_size=crop_size),
    # Small targets have no up or down; vertical flips are in the field's
    # augmentation (BasicIRSTD) too.
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    # No PhotoMetricDistortion: hue / saturation mean nothing for replicated
    # gray, and contrast jitter can erase a dim target. Crops smaller than
    # 512 (scale < 1) are padded by the data preprocessor to the batch's
    # largest crop (a multiple of 32) with label 255, which the losses
    # ignore.
    _base_.train_pipeline[-1],
]
# Full resolution, no resize: the data preprocessor pads to a multiple of 32
# and the segmentor crops the prediction back to the image (BasicIRSTD's
# protocol; MSHNet / DNANet test at 256x256, which is not comparable).
test_pipeline = [
    step for step in _base_.test_pipeline if step.type != 'Resize'
]
dataset = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(
    dataset=dict(dataset, ann_file='trainval.txt', pipeline=train_pipeline))
# IRSTD-1k has no validation split: like the field's code, validation runs
# on the test split, so the `best_IoU` checkpoint is selected on test data.
# Report the last checkpoint (or hold out part of trainval.txt) for numbers
# free of that selection.
val_dataloader = dict(
    dataset=dict(dataset, ann_file='test.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
# IoU, nIoU, Pd, Fa (1e-6), F1 and AUC as the field codes them, at the
# field's 0.5 threshold (see IRSTDMetric).
val_evaluator = dict(type='IRSTDMetric')
test_evaluator = val_evaluator
