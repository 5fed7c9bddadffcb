from .pretrain_decoder import InfMAEPretrainDecoder
from .stage_fusion import InfMAEStageFusion

__all__ = ['InfMAEPretrainDecoder', 'InfMAEStageFusion']
