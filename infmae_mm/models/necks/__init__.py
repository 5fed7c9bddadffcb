from .pretrain_decoder import InfMAEPretrainDecoder
from .pyramid_neck import InfMAEPyramidNeck
from .stage_fusion import InfMAEStageFusion

__all__ = ['InfMAEPretrainDecoder', 'InfMAEPyramidNeck', 'InfMAEStageFusion']
