from .infmae_vit import InfMAEViT

__all__ = ['InfMAEViT']
