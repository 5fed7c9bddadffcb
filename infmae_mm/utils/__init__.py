"""Dependency-light utilities (numpy, OpenCV and the standard library)."""
from .io import (atomic_imwrite, atomic_open, atomic_write_bytes,
                 atomic_write_text)

__all__ = [
    'atomic_open',
    'atomic_write_bytes',
    'atomic_write_text',
    'atomic_imwrite',
]
