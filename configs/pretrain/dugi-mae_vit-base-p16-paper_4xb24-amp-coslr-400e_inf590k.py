# DuGI-MAE-B in the form of the paper (AAAI-26, arXiv 2512.04511), composed
# on InfMAE: the same encoder and decoder, plus
# - deterministic entropy masking: Shannon entropy (bits) of each 16x16
#   patch's 256-level gray histogram, keep the highest 49 of 196 (Eq. 1-2);
# - DDG (AFDM + frequency-guided attention) between encoder and decoder,
#   see _base_/models/dugi_ddg.py.
# afdm_input='full' is the published design: AFDM sees the unmasked image,
# so masked content reaches the decoder. The -leakfree config filters only
# the visible image.
# Recipe of the paper ("Pre-training Setup"): 400 epochs, 40 warm-up, cosine,
# AdamW lr 1.5e-4 as printed (taken as the lr of the total batch of 96:
# 4 GPUs x 24), weight decay 0.05; Inf-590K (put it under data/Inf-590K/).
_base_ = [
    './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py',
    './_base_/models/dugi_ddg.py',
]

model = dict(
    neck=dict(type='DuGIPretrainDecoder', guidance=_base_.ddg_guidance))

# InfMAE's pipeline with the entropy masking: keep the 49 highest-entropy
# patches (ties: lowest index first).
train_pipeline = [
    dict(
        _base_.iam_mask_generator,
        scorer='entropy',
        selection='top',
        descending=True) if step.type == 'IAMMaskGenerator' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(
    batch_size=24,
    dataset=dict(data_root='data/Inf-590K/', pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4),
    paramwise_cfg=dict(custom_keys=_base_.ddg_no_decay_keys))
auto_scale_lr = dict(base_batch_size=96)
