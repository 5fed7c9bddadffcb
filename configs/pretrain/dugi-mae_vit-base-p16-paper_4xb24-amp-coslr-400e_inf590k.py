# DuGI-MAE-B in the form of the paper (AAAI-26, arXiv 2512.04511), composed
# on InfMAE: the same encoder and decoder, plus
# - deterministic entropy masking: Shannon entropy (bits) of each 16x16
#   patch's 256-level gray histogram, keep the highest 49 of 196 (Eq. 1-2);
# - AFDM: 2-D FFT of the image, centred radial filter
#   alpha * exp(-beta * (D / r)^2) with learnable alpha = sigmoid(a),
#   beta = exp(b), r = sigmoid(c) x half-diagonal (Eq. 3; initialised at the
#   released code's effective constants 0.62 / 7.39 / 0.5), then a stride-16
#   patch embedding; one frequency token per visible token (the token of the
#   same patch);
# - DDG: 3 frequency-guided attention blocks, Q from the encoder's visible
#   tokens, K/V = spatial + frequency (block 1) or spatial + previous output
#   (Eq. 5); their output enters the decoder as the visible tokens.
# afdm_input='full' is the published design: AFDM sees the unmasked image,
# so masked content reaches the decoder. The -leakfree config filters only
# the visible image.
# Recipe of the paper ("Pre-training Setup"): 400 epochs, 40 warm-up, cosine,
# AdamW lr 1.5e-4 as printed (taken as the lr of the total batch of 96:
# 4 GPUs x 24), weight decay 0.05; Inf-590K (put it under data/Inf-590K/).
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

model = dict(
    neck=dict(
        type='DuGIPretrainDecoder',
        guidance=dict(
            type='DualDomainGuidance',
            afdm_input='full',
            domain='image',
            downsample='visible',
            afdm=dict(response='lowpass', learnable=True, gate=False),
            fusion=dict(type='DDGGuidedAttention', num_heads=12,
                        num_blocks=3))))

# InfMAE's pipeline with the entropy masking: keep the 49 highest-entropy
# patches (ties: lowest index first).
train_pipeline = [
    step if step['type'] != 'IAMMaskGenerator' else dict(
        type='IAMMaskGenerator',
        scorer='entropy',
        stride=4,
        selection='top',
        descending=True) for step in _base_.train_pipeline
]
train_dataloader = dict(
    batch_size=24,
    dataset=dict(data_root='data/Inf-590K/', pipeline=train_pipeline))

# No weight decay on the filter's alpha/beta/r (it would pull them to 0.5 /
# 1 / 0.5) nor on 1-D tensors (the official rule; InfMAE's groups cover
# norms and biases).
optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4),
    paramwise_cfg=dict(
        custom_keys={
            '.afdm.': dict(decay_mult=0.),
            'q_bias': dict(decay_mult=0.),
            'v_bias': dict(decay_mult=0.),
            'fusion.mix': dict(decay_mult=0.),
        }))
auto_scale_lr = dict(base_batch_size=96)
