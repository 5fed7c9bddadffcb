# MSRS-inf: the infrared images of MSRS (480x640, 9 classes with
# unlabelled), 1083 train / 361 test. Gray images are read as 3 identical
# channels, as in pre-training. An unreadable image fails the run, naming
# the file (fine-tuning data must be clean). The pipelines and loaders of
# configs/_base_/datasets/thermal_seg.py at MSRS's size: random rescale of
# (640, 480) by 0.5-2x, 480x640 crops; test images resized to (640, 480).
_base_ = '../../../_base_/datasets/thermal_seg.py'

dataset_type = 'MSRSInfDataset'
data_root = 'data/MSRS/'
crop_size = (480, 640)
scale = (640, 480)
train_pipeline = [
    dict(step, scale=scale) if step.type == 'RandomResize' else
    dict(step, crop_size=crop_size) if step.type == 'RandomCrop' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(step, scale=scale) if step.type == 'Resize' else step
    for step in _base_.test_pipeline
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='train/ir', seg_map_path='train/Segmentation_labels'),
        pipeline=train_pipeline))
# The test split, as the paper reports.
val_dataloader = dict(
    dataset=dict(
        train_dataloader['dataset'],
        data_prefix=dict(
            img_path='test/ir', seg_map_path='test/Segmentation_labels'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# Per-class IoU and Acc, then aAcc / mIoU / mAcc (the paper's Table 1).
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
