from infmae_mm.registry import host_available
from .attention_distill_head import AttentionDistillHead
from .light_target_head import LightTargetFusion

__all__ = ['AttentionDistillHead', 'LightTargetFusion']
if host_available('mmpretrain'):
    from .reconstruction_head import InfMAEReconstructionHead
    __all__ += ['InfMAEReconstructionHead']
if host_available('mmseg'):
    from .light_target_head import LightTargetHead
    from .small_target_head import SmallTargetHead
    __all__ += ['LightTargetHead', 'SmallTargetHead']
