from infmae_mm.registry import host_available
from .ddg_guided_attention import DDGGuidedAttention
from .ddg_three_branch import DDGThreeBranch
from .ll_fpn import LastLayerFPN
from .pretrain_decoder import InfMAEPretrainDecoder
from .pyramid_neck import InfMAEPyramidNeck
from .stage_fusion import InfMAEStageFusion

__all__ = [
    'LastLayerFPN', 'InfMAEPretrainDecoder', 'InfMAEPyramidNeck',
    'InfMAEStageFusion', 'DDGGuidedAttention', 'DDGThreeBranch'
]
# These build their parts from mmpretrain's registry: only with mmpretrain.
if host_available('mmpretrain'):
    from .ddg_bridge import DualDomainGuidance
    from .dugi_decoder import DuGIPretrainDecoder
    __all__ += ['DualDomainGuidance', 'DuGIPretrainDecoder']
