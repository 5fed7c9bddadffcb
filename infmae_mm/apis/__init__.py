"""Glue to the hosts' high-level APIs (mmpretrain's model hub)."""
from .model_index import find_index_root, register_model_index

__all__ = ['find_index_root', 'register_model_index']
