from .warmup_cosine import WarmupCosineLR

__all__ = ['WarmupCosineLR']
