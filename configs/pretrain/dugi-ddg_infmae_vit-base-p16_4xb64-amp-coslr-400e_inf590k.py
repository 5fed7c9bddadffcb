# DDG added to InfMAE (DuGI-MAE paper Table 6): the paper-form AFDM +
# frequency-guided attention bridge of the DuGI-MAE paper config in front of
# InfMAE's decoder, with InfMAE's own masking (mean gray value, stride 4) and
# recipe (total batch 256, lr 1.5e-4 x 256 / 256), pre-trained on Inf-590K.
# (Table 5's "gray-value" row is the same model trained with DuGI's recipe:
# the -paper-graymask config.)
_base_ = './dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-400e_inf590k.py'

train_dataloader = dict(
    batch_size=64,
    dataset=dict(pipeline=[
        _base_.iam_mask_generator if step.type == 'IAMMaskGenerator' else step
        for step in _base_.train_pipeline
    ]))
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 256 / 256))
auto_scale_lr = dict(base_batch_size=256)
