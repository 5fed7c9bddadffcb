# The IRSTD-1k recipe on NUDT-SIRST (DNANet, TIP 2023: 1,327 synthetic
# 256x256 images) in BasicIRSTD's layout:
#   data/NUDT-SIRST/images/000001.png ... masks/000001.png ... (0/255)
#   data/NUDT-SIRST/img_idx/train_NUDT-SIRST.txt, test_NUDT-SIRST.txt
# Only the paths change, plus the pixel sizes of the augmentation (the
# images are 256x256). NUAA-SIRST in BasicIRSTD's layout loads the same way
# with its own split files (original releases name masks `<stem>_pixels0.png`:
# add seg_map_suffix='_pixels0.png' to both datasets).
_base_ = './irstd-head_infmae-base_1xb2-40k_irstd1k-512x512.py'

data_root = 'data/NUDT-SIRST/'
crop_size = (256, 256)
train_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackSegInputs'),
]
model = dict(backbone=dict(img_size=256))
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='img_idx/train_NUDT-SIRST.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='img_idx/test_NUDT-SIRST.txt'))
test_dataloader = val_dataloader
