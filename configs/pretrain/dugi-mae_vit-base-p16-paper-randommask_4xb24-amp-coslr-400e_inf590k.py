# DuGI-MAE-B masking ablation (paper Table 5, "random"): random 25% visible
# instead of the entropy masking; everything else as the paper-form config.
_base_ = './dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-400e_inf590k.py'

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(_base_.iam_mask_generator, scorer='random', selection='top'
             ) if step.type == 'IAMMaskGenerator' else step
        for step in _base_.train_pipeline
    ]))
