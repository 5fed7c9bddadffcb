from .checkpoint_hook import (ATOMIC_LOCAL_BACKEND, AtomicCheckpointHook,
                              AtomicLocalBackend)

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'ATOMIC_LOCAL_BACKEND'
]
