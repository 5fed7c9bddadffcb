# UNIP-S distilled from iBOT-L/16 layer 21 (`ibot-l_distill_unip-s.sh`,
# weights `unip_vit_small_by_ibot_large.pth`). iBOT's training file holds
# the ViT under `teacher` with a `backbone.` prefix; it is found and checked.
_base_ = './unip_vit-small-p16_mae-large-l18_2xb256-accum8-amp-coslr-100e_infmix.py'  # noqa: E501

model = dict(
    teacher=dict(layer=21, checkpoint='checkpoints/ibot_vit_large_16.pth'))
