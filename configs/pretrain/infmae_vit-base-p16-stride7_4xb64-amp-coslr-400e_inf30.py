# Ablation (paper Table 6): masking stride S = 7, 28 of 196 tokens visible.
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

train_dataloader = dict(
    dataset=dict(pipeline=[
        *_base_.train_pipeline[:-2],
        dict(type='IAMMaskGenerator', scorer='intensity', stride=7),
        _base_.train_pipeline[-1],
    ]))
