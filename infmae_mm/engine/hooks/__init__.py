from .checkpoint_hook import (ATOMIC_LOCAL_BACKEND, AtomicCheckpointHook,
                              AtomicLocalBackend)
from .finite_loss_hook import CheckFiniteLossHook, NonFiniteLossError

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'ATOMIC_LOCAL_BACKEND',
    'CheckFiniteLossHook', 'NonFiniteLossError'
]
