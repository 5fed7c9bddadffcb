from .warmup_cosine import WarmupCosineLR
from .warmup_decay import WarmupDecayLR
from .warmup_poly import WarmupPolyLR

__all__ = ['WarmupCosineLR', 'WarmupDecayLR', 'WarmupPolyLR']
