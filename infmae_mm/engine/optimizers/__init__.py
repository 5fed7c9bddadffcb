from .layer_decay_constructor import InfMAELayerDecayOptimWrapperConstructor

__all__ = ['InfMAELayerDecayOptimWrapperConstructor']
