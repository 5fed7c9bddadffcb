"""Model analysis helpers (FLOP counting with attention, operator counts)."""
from .flops import complexity_with_attention, sdpa_flop_jit
from .op_count import count_aten_ops, count_train_step_ops

__all__ = [
    'complexity_with_attention', 'sdpa_flop_jit', 'count_aten_ops',
    'count_train_step_ops'
]
