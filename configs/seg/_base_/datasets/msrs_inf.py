# MSRS-inf: the infrared images of MSRS (480x640, 9 classes with
# unlabelled), 1083 train / 361 test. Gray images are read as 3 identical
# channels, as in pre-training. An unreadable image fails the run, naming
# the file (fine-tuning data must be clean).

dataset_type = 'MSRSInfDataset'
data_root = 'data/MSRS/'
crop_size = (480, 640)
train_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(640, 480),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='Resize', scale=(640, 480), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='train/ir', seg_map_path='train/Segmentation_labels'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='test/ir', seg_map_path='test/Segmentation_labels'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# Per-class IoU and Acc, then aAcc / mIoU / mAcc (the paper's Table 1).
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
