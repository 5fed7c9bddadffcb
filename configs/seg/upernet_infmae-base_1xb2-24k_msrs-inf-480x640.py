# UperNet + InfMAE-B on MSRS-inf (paper Table 1: 74.3 mIoU / 82.5 mAcc).
_base_ = [
    './_base_/models/upernet_infmae-base.py',
    './_base_/datasets/msrs_inf.py',
    './_base_/schedules/adamw-layerdecay-poly-24k.py',
    'mmseg::_base_/default_runtime.py',
]
