# The IRSTD-1k recipe on NUDT-SIRST (DNANet, TIP 2023: 1,327 synthetic
# 256x256 images); data layout and splits in _base_/datasets/nudt-sirst.py.
# Only the data and the pixel sizes of the augmentation change (the images
# are 256x256).
_base_ = [
    './_base_/models/irstd-head_infmae-base_256x256.py',
    './_base_/datasets/nudt-sirst.py',
    './_base_/schedules/adamw-layerdecay-poly-40k.py',
    'mmseg::_base_/default_runtime.py',
]
