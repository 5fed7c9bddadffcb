# DuGI-MAE-B, code form, leak-free: the masked tokens of the patch embedding
# are zeroed before AFDM, so no masked patch reaches the decoder. Everything
# else as the code-form config.
_base_ = './dugi-mae_vit-base-p16-code_4xb64-amp-coslr-150e_inf590k.py'

model = dict(neck=dict(guidance=dict(afdm_input='visible')))
