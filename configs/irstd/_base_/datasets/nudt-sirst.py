# NUDT-SIRST (DNANet, TIP 2023): 1,327 synthetic 256x256 images with real
# backgrounds, in BasicIRSTD's layout:
#   images/000001.png ...   masks/000001.png ...   (0 / 255)
#   img_idx/train_NUDT-SIRST.txt, img_idx/test_NUDT-SIRST.txt
# DNANet's own release has the same folders with the split files
# 50_50/train.txt and 50_50/test.txt (set ann_file to those).
_base_ = './irstd1k.py'

data_root = 'data/NUDT-SIRST/'
# The IRSTD-1k pipeline at the images' size: resized by 0.5-2x of 256,
# cropped to 256x256.
crop_size = (256, 256)
train_pipeline = [
    dict(step, scale=crop_size) if step.type == 'RandomResize' else
    dict(step, crop_size=crop_size) if step.type == 'RandomCrop' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='img_idx/train_NUDT-SIRST.txt',
        pipeline=train_pipeline))
# No validation split: validation runs on test, as in the field.
val_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='img_idx/test_NUDT-SIRST.txt'))
test_dataloader = val_dataloader
