# DuGI-MAE-B in the form of the released code (Xtingsu/DuGI-MAE, commit
# 3202c62), composed on InfMAE:
# - masking: softmax entropy (nats) over the 768 channels of each token of a
#   stride-16 patch embedding of the normalised image, keep the 49 LOWEST
#   (in-model IAMMasking with the 'embedding_entropy' scorer; its conv is
#   stored frozen like the official InfMAE scorer, whereas the code shares it
#   with the frequency path and so lets the masks drift as it trains);
# - AFDM on the (B, 196, 768) embedding tokens: FFT over the token x channel
#   axes, radial low-pass at the code's effective constants (alpha 0.62,
#   beta 7.39, r = 0.5 x half-diagonal = 198 bins) times the batch-coupled
#   gate sigmoid(0.01 * sum_b |F_b|); registered and trained here (the code
#   rebuilds them in every forward, so they never train there);
# - a registered, trained Conv1d(768, 768, k4, s4) over the token axis
#   (196 -> 49; random every step in the code);
# - DDG: three attention + FFN branches without norm or residual (VAR's
#   unit, attention scale 1/32); branch 0 gets 0.5 x latent + 0.5 x freq,
#   branches 1 and 2 the latent; their 147 outputs fill the masked slots and
#   the mask token the visible ones.
# afdm_input='full' as published (masked content reaches the decoder); the
# -leakfree config zeroes the masked tokens before AFDM.
# Recipe of main_pretrain_DuGI_MAE.py: 150 epochs, 40 warm-up, cosine to 0,
# AdamW blr 1e-3 x batch / 256 (4 GPUs x 64), betas 0.9/0.95, wd 0.05, AMP.
_base_ = [
    './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py',
    './_base_/models/dugi_ddg.py',
]

model = dict(
    mask_generator=dict(
        scorer='embedding_entropy',
        stride=4,
        selection='top',
        descending=False),
    neck=dict(
        type='DuGIPretrainDecoder',
        guidance=dict(
            _base_.ddg_guidance,
            domain='embedding',
            downsample='conv',
            afdm=dict(_base_.ddg_guidance.afdm, gate=True),
            fusion=dict(type='DDGThreeBranch', num_heads=12,
                        code_order=True))))

# Masks come from the model: InfMAE's pipeline without IAMMaskGenerator.
train_pipeline = [
    step for step in _base_.train_pipeline
    if step['type'] != 'IAMMaskGenerator'
]
train_dataloader = dict(
    dataset=dict(data_root='data/Inf-590K/', pipeline=train_pipeline))

# timm's add_weight_decay as in the code: no decay on 1-D tensors and biases
# (the filter's scalars are not registered in the code; no decay here).
optim_wrapper = dict(
    optimizer=dict(lr=1e-3 * 256 / 256),
    paramwise_cfg=dict(custom_keys=_base_.ddg_no_decay_keys))

# 40 warm-up epochs of 150, then cosine to 0 at the end of the run.
param_scheduler = [dict(_base_.param_scheduler[0], warmup_fraction=40 / 150)]
train_cfg = dict(max_epochs=150)
