# M3FD-inf: the infrared images of M3FD (1024x768, 4200 images, 6 classes),
# converted to COCO by tools/dataset_converters/m3fd_to_coco.py (scene-
# disjoint train/val split by default). Masks are the boxes' polygons, so
# Mask R-CNN trains with box-shaped masks; evaluation is on boxes.
dataset_type = 'M3FDInfDataset'
data_root = 'data/M3FD/'

train_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1024, 768), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='Resize', scale=(1024, 768), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
# What the loaders share: the dataset (each adds its split) and the workers.
dataset = dict(type=dataset_type, data_root=data_root)
loader = dict(num_workers=2, persistent_workers=True)
train_dataloader = dict(
    loader,
    batch_size=2,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        dataset,
        ann_file='annotations/m3fd_inf_train.json',
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=train_pipeline))
val_dataloader = dict(
    loader,
    batch_size=1,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        dataset,
        ann_file='annotations/m3fd_inf_val.json',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# bbox mAP and AP50 overall, and per class (classwise: the paper's Table 2).
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/m3fd_inf_val.json',
    metric='bbox',
    classwise=True,
    format_only=False)
test_evaluator = val_evaluator
