"""Adaptive cropping of constant borders (black bars, padding, letterboxes).

Registered visible-infrared pairs and converted video frames often carry
black (or otherwise constant) bars. They add nothing to pre-training, lower
the entropy statistic and hide near-duplicates behind different bar widths,
so curation can crop them (``--crop-borders``) before measuring, as the
Inf-590K recipe does.

The rule: a line (row or column) at the edge of the image is a border line
when at least :data:`BORDER_FRACTION` of its pixels lie within
``tolerance`` gray levels of its side's *border value*, the median of the
outermost line on that side. Lines are peeled from each side while they are
border lines; the four sides are peeled in turn until none changes, so bars of
different widths on different sides are all removed. Nothing is cropped
when less than ``min_keep`` of either side would remain (a flat or nearly
flat image keeps its size).
"""
from typing import Tuple

import numpy as np

__all__ = ['BORDER_FRACTION', 'content_box']

#: Share of a line's pixels that must be border-coloured.
BORDER_FRACTION = 0.98


def content_box(levels: np.ndarray,
                tolerance: int = 4,
                min_keep: float = 0.25) -> Tuple[int, int, int, int]:
    """The box inside constant borders.

    Args:
        levels (np.ndarray): ``(H, W)`` uint8 gray image.
        tolerance (int): Largest gray-level difference from the border
            value of a border pixel (JPEG ringing, sensor noise).
        min_keep (float): Smallest kept fraction of the width and of the
            height; below it the image is left whole.

    Returns:
        tuple[int, int, int, int]: ``(x0, y0, x1, y1)``, the content is
        ``levels[y0:y1, x0:x1]``; ``(0, 0, W, H)`` when there is no border.
    """
    h, w = levels.shape[:2]
    whole = (0, 0, w, h)
    if h < 3 or w < 3:
        return whole
    img = levels.astype(np.int16)
    # Each side's border value: the median of its outermost line.
    top, bottom = int(np.median(img[0])), int(np.median(img[-1]))
    left, right = int(np.median(img[:, 0])), int(np.median(img[:, -1]))

    def is_border(line: np.ndarray, value: int) -> bool:
        return float(np.mean(np.abs(line - value) <= tolerance)) >= \
            BORDER_FRACTION

    x0, y0, x1, y1 = whole
    changed = True
    while changed and x1 - x0 > 1 and y1 - y0 > 1:
        changed = False
        if is_border(img[y0, x0:x1], top):
            y0, changed = y0 + 1, True
        if y1 - y0 > 1 and is_border(img[y1 - 1, x0:x1], bottom):
            y1, changed = y1 - 1, True
        if is_border(img[y0:y1, x0], left):
            x0, changed = x0 + 1, True
        if x1 - x0 > 1 and is_border(img[y0:y1, x1 - 1], right):
            x1, changed = x1 - 1, True
    if x1 - x0 < min_keep * w or y1 - y0 < min_keep * h:
        return whole
    return x0, y0, x1, y1
