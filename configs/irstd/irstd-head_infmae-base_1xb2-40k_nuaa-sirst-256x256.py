# The IRSTD-1k recipe on NUAA-SIRST (SIRST v1, WACV 2021: 427 real images,
# 341 trainval / 86 test); data layout and splits in
# _base_/datasets/nuaa-sirst.py. 40k iterations of batch 2 are about 235
# epochs of trainval (the field trains 300-1,500 epochs at 256x256).
_base_ = [
    './_base_/models/irstd-head_infmae-base_256x256.py',
    './_base_/datasets/nuaa-sirst.py',
    './_base_/schedules/adamw-layerdecay-poly-40k.py',
    'mmseg::_base_/default_runtime.py',
]
