"""Visualisation helpers: a titled picture grid and DuGI-MAE views."""
from .grid import grid_layout, make_grid, overlay_mask, save_grid, to_bgr_uint8

__all__ = [
    'to_bgr_uint8',
    'grid_layout',
    'make_grid',
    'overlay_mask',
    'save_grid',
]
