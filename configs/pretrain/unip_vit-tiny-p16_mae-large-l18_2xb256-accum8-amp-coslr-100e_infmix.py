# UNIP-T distilled from MAE-L layer 18 (`mae-l_distill_unip-t.sh`, weights
# `unip_vit_tiny_by_mae_large.pth`): the UNIP-S recipe with a 192-d student
# (16 heads of 12 channels in its last block).
_base_ = './unip_vit-small-p16_mae-large-l18_2xb256-accum8-amp-coslr-100e_infmix.py'  # noqa: E501

model = dict(backbone=dict(arch='tiny'))
