# NUAA-SIRST, i.e. SIRST v1 (Dai et al., WACV 2021; github.com/YimianDai/
# sirst): 427 real infrared images of varied sizes (135x96 to 456x388,
# median 304x212), one or a few small targets each. Layout of the release:
#   images/Misc_1.png ...
#   masks/Misc_1_pixels0.png ...          (0 / 255)
#   idx_427/trainval.txt, idx_427/test.txt (stems; train.txt / val.txt
#   split trainval for model selection)
# BasicIRSTD's copy names masks like the images: set seg_map_suffix='.png'
# and its split files (img_idx/train_NUAA-SIRST.txt, test_NUAA-SIRST.txt).
# The 427 images are also in SIRST-v2 (sirst-v2.py with its v1 splits).
_base_ = './nudt-sirst.py'

data_root = 'data/NUAA-SIRST/'
seg_map_suffix = '_pixels0.png'
# NUDT-SIRST's pipeline: the field's base size for these small images
# (BasicIRSTD: 256), i.e. resized by 0.5-2x of 256 and cropped to 256x256;
# testing is at full resolution.
dataset = dict(data_root=data_root, seg_map_suffix=seg_map_suffix)
train_dataloader = dict(dataset=dict(dataset, ann_file='idx_427/trainval.txt'))
# As in the field, no separate validation split: validation runs on test
# (set ann_file='idx_427/val.txt' and train on train.txt to select
# checkpoints free of test data).
val_dataloader = dict(dataset=dict(dataset, ann_file='idx_427/test.txt'))
test_dataloader = val_dataloader
