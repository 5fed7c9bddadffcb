# DuGI-MAE-B, paper form, leak-free: AFDM filters only the visible image
# (masked patches set to 0 in the normalised space, i.e. the mean gray
# value), so no masked pixel reaches the decoder. Everything else as the
# paper-form config.
_base_ = './dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-400e_inf590k.py'

model = dict(neck=dict(guidance=dict(afdm_input='visible')))
