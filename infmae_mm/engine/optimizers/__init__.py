from .compact_log_constructor import CompactLogOptimWrapperConstructor
from .layer_decay_constructor import InfMAELayerDecayOptimWrapperConstructor

__all__ = [
    'CompactLogOptimWrapperConstructor',
    'InfMAELayerDecayOptimWrapperConstructor'
]
