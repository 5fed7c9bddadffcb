# The paper's recipe (infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py) on
# 16-bit radiometric infrared images (PNG or TIFF; 8-bit files may be mixed
# in and pass through unchanged). Only the loader changes: each deeper image
# is stretched to 0-255 between its own 0.5 and 99.5 percentiles, like a
# camera's automatic gain control, so that it looks like the 8-bit data the
# recipe (crops, IAM, mean/std 0.425/0.200 x 255) was made for. For one
# mapping shared by every image (temperatures comparable across images) use
#   dict(type='LoadThermalImage', mode='fixed', value_range=(lo, hi))
# with the raw counts of your camera that should become 0 and 255.
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

data_root = 'data/ir16/'
# Same positions as the base pipeline: [load, crop, flip, IAM, pack].
train_pipeline = [
    dict(type='LoadThermalImage', mode='percentile', percentiles=(0.5, 99.5)),
    *_base_.train_pipeline[1:],
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
