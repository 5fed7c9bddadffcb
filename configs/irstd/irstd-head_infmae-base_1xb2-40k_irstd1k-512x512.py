# InfMAE-B + SmallTargetHead on IRSTD-1k at full 512x512 resolution (paper
# Table 3, InfMAE: IoU 66.0, F1 79.5, AUC 91.2, Pd 96.6). Metrics: IoU,
# nIoU, Pd, Fa (1e-6), F1, AUC of IRSTDMetric.
_base_ = [
    './_base_/models/irstd-head_infmae-base.py',
    './_base_/datasets/irstd1k.py',
    './_base_/schedules/adamw-layerdecay-poly-40k.py',
    'mmseg::_base_/default_runtime.py',
]
