# The IRSTD model for the small-image sets (NUDT-SIRST, NUAA-SIRST): the
# encoder's position table sized for 256x256 inputs (the field's base size
# for these images); everything else as irstd-head_infmae-base.py.
_base_ = './irstd-head_infmae-base.py'

model = dict(backbone=dict(img_size=256))
