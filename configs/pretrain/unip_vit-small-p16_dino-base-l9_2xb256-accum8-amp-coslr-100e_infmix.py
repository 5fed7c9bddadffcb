# UNIP-S distilled from DINO-B/16 layer 9 (`dino-b_distill_unip-s.sh`; no
# weights released): a 12-head teacher, so the student's last block has 12.
_base_ = './unip_vit-small-p16_mae-large-l18_2xb256-accum8-amp-coslr-100e_infmix.py'  # noqa: E501

model = dict(
    backbone=dict(last_layer_heads=12),
    teacher=dict(
        vit=dict(arch='base'),
        layer=9,
        checkpoint='checkpoints/dino_vitbase16_pretrain.pth'))
