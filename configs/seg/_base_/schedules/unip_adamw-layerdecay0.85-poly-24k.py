# UNIP's fine-tuning optimiser and schedule shape (released SODA scripts) at
# the length of the InfMAE segmentation schedule (adamw-layerdecay-poly-24k.py:
# 24k iterations, 1,500 warm-up, validation and checkpoints every 2,400):
# AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05 (not on 1-D tensors
# and biases; the cls token and position table are decayed, as in the
# official constructor); layer-wise lr decay 0.85 (the scripts' value, the
# configs say 0.65): lr scale 0.85 ** (13 - depth), depth 0 for the patch
# embedding / cls / position, i + 1 for block i, 13 for neck and heads; fp16
# (apex O1 in the official code, AMP here). Poly decay (power 1) to 0 from
# iteration 0 to the end of the run, as mmcv 1.x ran it (the official runs),
# multiplied during the warm-up by a factor rising linearly from 1e-6 to 1.
# No `end`: the runner sets train_cfg.max_iters. A shorter schedule sets
# max_iters, val_interval and
# dict(_base_.param_scheduler[0], warmup_fraction=N / max_iters).
_base_ = './adamw-layerdecay-poly-24k.py'

optim_wrapper = dict(
    type='AmpOptimWrapper', paramwise_cfg=dict(layer_decay_rate=0.85))

val_interval = 2400
param_scheduler = [dict(_base_.param_scheduler[0], decay_begins='at_begin')]
