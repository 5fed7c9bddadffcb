# Stop a run at the first non-finite training loss, with an error naming the
# iteration and the likely causes (infmae_mm CheckFiniteLossHook), instead of
# logging `loss: nan` to the end and saving the weights. Every shipped config
# inherits this file through a shared base (tests/test_finite_loss.py checks
# it). A config that sets its own custom_hooks replaces this list: keep the
# check with `custom_hooks = [*_base_.custom_hooks, dict(type=...)]`.
custom_hooks = [dict(type='CheckFiniteLossHook', interval=1)]
