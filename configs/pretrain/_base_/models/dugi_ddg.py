# DuGI-MAE's dual-domain guidance (DDG) in the form of the paper (AAAI-26,
# arXiv 2512.04511), as variables for the configs that add it to a
# decoder (InfMAE's, MAE's):
# - AFDM: 2-D FFT of the image, centred radial filter
#   alpha * exp(-beta * (D / r)^2) with learnable alpha = sigmoid(a),
#   beta = exp(b), r = sigmoid(c) x half-diagonal (Eq. 3; initialised at the
#   released code's effective constants 0.62 / 7.39 / 0.5), then a stride-16
#   patch embedding; one frequency token per visible token;
# - 3 frequency-guided attention blocks, Q from the encoder's visible
#   tokens, K/V = spatial + frequency (block 1) or spatial + previous output
#   (Eq. 5); their output enters the decoder as the visible tokens.
# afdm_input='full' is the published design: AFDM sees the unmasked image,
# so masked content reaches the decoder (the -leakfree configs set
# 'visible').
ddg_guidance = dict(
    type='DualDomainGuidance',
    afdm_input='full',
    domain='image',
    downsample='visible',
    afdm=dict(response='lowpass', learnable=True, gate=False),
    fusion=dict(type='DDGGuidedAttention', num_heads=12, num_blocks=3))
# No weight decay on the filter's alpha/beta/r (it would pull them to 0.5 /
# 1 / 0.5) nor on 1-D tensors (the official rule; the pre-training configs'
# own groups cover norms and biases): paramwise_cfg.custom_keys.
ddg_no_decay_keys = {
    '.afdm.': dict(decay_mult=0.),
    'q_bias': dict(decay_mult=0.),
    'v_bias': dict(decay_mult=0.),
    'fusion.mix': dict(decay_mult=0.),
}
