# Ablation (paper Table 5): a 12-block decoder instead of 2.
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

model = dict(neck=dict(decoder_depth=12))
