# Linear probing: the InfMAE-B encoder is frozen (frozen_stages=3) and a
# single 1x1 convolution classifies its F3 features.
_base_ = './fcn_infmae-base_1xb2-24k_msrs-inf-480x640.py'

model = dict(
    backbone=dict(frozen_stages=3, drop_path_rate=0.),
    neck=None,
    decode_head=dict(
        num_convs=0, channels=768, concat_input=False, dropout_ratio=0.),
    auxiliary_head=None)
