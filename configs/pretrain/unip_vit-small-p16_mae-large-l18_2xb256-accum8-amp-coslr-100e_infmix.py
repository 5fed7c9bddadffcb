# UNIP-S distilled from MAE-L layer 18 on InfMix: the released recipe
# (`mae-l_distill_unip-s.sh`, weights `unip_vit_small_by_mae_large.pth`).
# Effective batch 4096 = 256 per GPU x 2 GPUs x 8 accumulated steps; lr =
# blr 1.5e-4 x 4096 / 256 = 2.4e-3; 100 epochs, 5 linear warm-up epochs,
# half-cosine to 0; AdamW (0.9, 0.95), weight decay 0.05 except 1-D tensors
# and biases (the cls token is decayed, the fixed position table is not
# trained); no gradient clipping; AMP. Checkpoints hold the student only.
_base_ = [
    './_base_/models/unip_vit-small-p16_mae-large-l18.py',
    './_base_/datasets/infmix_bs256_unip.py',
    './_base_/unip_feature_extraction.py',
    './_base_/schedules/adamw-amp-warmup-coslr.py',
]

optim_wrapper = dict(
    accumulative_counts=8,
    optimizer=dict(lr=1.5e-4 * 4096 / 256),
    # timm's param_groups_weight_decay: no decay on norms and biases.
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))

# 5 of 100 epochs of linear warm-up, then half-cosine to 0.
param_scheduler = [dict(_base_.param_scheduler[0], warmup_fraction=5 / 100)]

train_cfg = dict(max_epochs=100)
default_hooks = dict(checkpoint=dict(interval=20))
# The last block's projection, MLP and the final norm receive no gradient
# (only its attention logits are trained), as in the official DDP setup.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

# The lr above is for an effective batch of 4096 (accumulation included);
# scale it by hand for another batch.
auto_scale_lr = dict(base_batch_size=4096, enable=False)
