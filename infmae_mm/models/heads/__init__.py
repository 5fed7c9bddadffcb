from .reconstruction_head import InfMAEReconstructionHead

__all__ = ['InfMAEReconstructionHead']
