# UNIP's fine-tuning schedule (released SODA scripts): 14,400 iterations,
# poly decay (power 1) to 0 with 1,500 linear warm-up iterations (ratio
# 1e-6), validation every 800; the optimiser and schedule shape of
# unip_adamw-layerdecay0.85-poly-24k.py (AdamW lr 1e-4, layer decay 0.85,
# AMP, decay from iteration 0). A leaf changes the warm-up with
# dict(_base_.param_scheduler[0], warmup_fraction=N / max_iters).
_base_ = './unip_adamw-layerdecay0.85-poly-24k.py'

max_iters = 14400
val_interval = 800
param_scheduler = [
    dict(_base_.param_scheduler[0], warmup_fraction=1500 / max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(checkpoint=dict(interval=val_interval))
