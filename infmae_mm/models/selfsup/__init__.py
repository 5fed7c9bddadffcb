# The self-supervisors derive from mmpretrain's: only with mmpretrain.
from infmae_mm.registry import host_available

__all__ = []
if host_available('mmpretrain'):
    from .infmae import InfMAE
    from .mae_ddg import MAEWithDDG
    from .unip import UNIP
    __all__ += ['InfMAE', 'UNIP', 'MAEWithDDG']
