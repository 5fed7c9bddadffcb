from .infmae import MASK_KEYS, InfMAE

__all__ = ['InfMAE', 'MASK_KEYS']
