# UNIP's segmentation data pipeline (SODA, MFNet-T, SCUT-Seg): mmseg's
# standard one of configs/_base_/datasets/thermal_seg.py (random rescale of
# (2048, 512) by 0.5-2.0, 512x512 crops with at most 75% of one class, flip,
# photometric distortion; test at (2048, 512) keeping the ratio, sliding
# windows in the model's test_cfg), 4 images and 4 workers per GPU. Images
# are padded to 512 by the data preprocessor (labels with 255). Leaf configs
# set the dataset.
_base_ = '../../../_base_/datasets/thermal_seg.py'

train_dataloader = dict(batch_size=4, num_workers=4)
val_dataloader = dict(num_workers=4)
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
