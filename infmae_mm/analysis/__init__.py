"""Model analysis helpers (FLOP counting with attention)."""
from .flops import complexity_with_attention, sdpa_flop_jit

__all__ = ['complexity_with_attention', 'sdpa_flop_jit']
