from infmae_mm.registry import host_available
from .infmae_vit import InfMAEViT

__all__ = ['InfMAEViT']
# UNIPViT derives from mmpretrain's VisionTransformer: with mmseg or mmdet
# alone it is absent.
if host_available('mmpretrain'):
    from .unip_vit import UNIPViT
    __all__ += ['UNIPViT']
