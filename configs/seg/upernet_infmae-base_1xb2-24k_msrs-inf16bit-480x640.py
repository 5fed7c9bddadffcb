# UperNet + InfMAE-B on MSRS-like data whose infrared images are 16-bit
# (radiometric PNG or TIFF): the MSRS-inf recipe with only the loader changed,
# in the training and the test pipeline alike. Each image is stretched to
# 0-255 between its own 0.5 and 99.5 percentiles, as in 16-bit pre-training
# (configs/pretrain/infmae_vit-base-p16_4xb64-amp-coslr-400e_ir16bit.py); use
# the same rule as the pre-training whose weights you fine-tune. For one
# mapping shared by every image use mode='fixed', value_range=(lo, hi).
# Layout as MSRS: train/ir, train/Segmentation_labels, test/ir, ... For .tiff
# images add img_suffix='.tiff' to the datasets.
_base_ = './upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py'

data_root = 'data/MSRS16/'
thermal_loader = dict(
    type='LoadThermalImage', mode='percentile', percentiles=(0.5, 99.5))
# Same positions as the base pipelines: the loader comes first.
train_pipeline = [thermal_loader, *_base_.train_pipeline[1:]]
test_pipeline = [thermal_loader, *_base_.test_pipeline[1:]]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
