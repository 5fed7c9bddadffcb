from infmae_mm.registry import host_available
from .attention_distill_head import AttentionDistillHead

__all__ = ['AttentionDistillHead']
if host_available('mmpretrain'):
    from .reconstruction_head import InfMAEReconstructionHead
    __all__ += ['InfMAEReconstructionHead']
if host_available('mmseg'):
    from .small_target_head import SmallTargetHead
    __all__ += ['SmallTargetHead']
