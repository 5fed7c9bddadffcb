# The IRSTD-1k recipe on SIRST-v2 (TGRS 2023: 1,024 real infrared frames of
# varied sizes, 510 of them target-free); layout, splits and the native-
# scale augmentation in _base_/datasets/sirst-v2.py. Trains on train_full
# (512), validates on val_full (256: the best_IoU checkpoint is chosen
# there, not on test), tests on test_full (256). 40k iterations of batch 2
# are about 156 epochs of train_full. For final numbers train on
# trainval_full and report the last checkpoint:
#   --cfg-options train_dataloader.dataset.ann_file=splits/trainval_full.txt
# Check the data first: python tools/data/check_dataset.py THIS_CONFIG
_base_ = [
    './_base_/models/irstd-head_infmae-base.py',
    './_base_/datasets/sirst-v2.py',
    './_base_/schedules/adamw-layerdecay-poly-40k.py',
    'mmseg::_base_/default_runtime.py',
]
