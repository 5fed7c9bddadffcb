"""Visualisation helpers (numpy + OpenCV only)."""
from .grid import (colorize_labels, draw_boxes, grid_layout, make_grid,
                   overlay_mask, save_grid, to_bgr_uint8)

__all__ = [
    'to_bgr_uint8',
    'grid_layout',
    'make_grid',
    'overlay_mask',
    'colorize_labels',
    'draw_boxes',
    'save_grid',
]
