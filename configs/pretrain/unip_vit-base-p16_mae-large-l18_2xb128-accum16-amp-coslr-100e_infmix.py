# UNIP-B distilled from MAE-L layer 18 (`mae-l_distill_unip-b.sh`, weights
# `unip_vit_base_by_mae_large.pth`): 128 per GPU x 2 GPUs x 16 accumulated
# steps, the same effective batch 4096 and lr 2.4e-3.
_base_ = './unip_vit-small-p16_mae-large-l18_2xb256-accum8-amp-coslr-100e_infmix.py'  # noqa: E501

model = dict(backbone=dict(arch='base'))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(accumulative_counts=16)
