# Ablation (paper Table 4, "w/o IAM"): MAE/MCMAE random masking with the same
# 75% ratio, for comparison with information-aware masking.
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

train_dataloader = dict(
    dataset=dict(pipeline=[
        *_base_.train_pipeline[:-2],
        dict(type='IAMMaskGenerator', scorer='random', stride=4),
        _base_.train_pipeline[-1],
    ]))
