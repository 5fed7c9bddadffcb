# UNIP's fine-tuning schedule (released SODA scripts): 14,400 iterations,
# poly decay (power 1) to 0 with 1,500 linear warm-up iterations (ratio
# 1e-6); AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05 (not on 1-D
# tensors and biases; the cls token and position table are decayed, as in
# the official constructor); layer-wise lr decay 0.85 (the scripts' value,
# the configs say 0.65): lr scale 0.85 ** (13 - depth), depth 0 for the
# patch embedding / cls / position, i + 1 for block i, 13 for neck and
# heads; fp16 (apex O1 in the official code, AMP here). Everything else as
# the InfMAE segmentation schedule (adamw-layerdecay-poly-24k.py).
_base_ = './adamw-layerdecay-poly-24k.py'

optim_wrapper = dict(
    type='AmpOptimWrapper', paramwise_cfg=dict(layer_decay_rate=0.85))

max_iters = 14400
val_interval = 800
# As mmcv 1.x ran them (the official runs): poly decay from iteration 0 to
# the end of the run, multiplied during the warm-up (1,500 of 14,400
# iterations) by a factor rising linearly from 1e-6 to 1. No `end`: the
# runner sets train_cfg.max_iters, so warm-up and decay follow the run's
# length. A leaf changes the warm-up with
# dict(_base_.param_scheduler[0], warmup_fraction=N / max_iters).
param_scheduler = [
    dict(
        _base_.param_scheduler[0],
        warmup_fraction=1500 / max_iters,
        decay_begins='at_begin')
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(checkpoint=dict(interval=val_interval))
