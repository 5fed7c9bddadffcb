from .reconstruction_head import InfMAEReconstructionHead
from .small_target_head import SmallTargetHead

__all__ = ['InfMAEReconstructionHead', 'SmallTargetHead']
