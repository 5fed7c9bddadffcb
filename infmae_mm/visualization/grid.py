"""A titled picture grid: torchvision tiles the cells, OpenCV draws titles.

:func:`make_grid` tiles images (gray, single- or three-channel, uint8 or
float in [0, 1]) with :func:`torchvision.utils.make_grid` into one BGR uint8
picture, with optional column titles above and row titles to the left;
:func:`save_grid` writes it atomically. :func:`overlay_mask` tints the masked
patches of an image (e.g. an InfMAE information-aware mask, 1 = masked) with
mmengine's :meth:`Visualizer.draw_binary_masks`. The title bands stay
in-house: neither torchvision's grid nor mmengine's ``Visualizer`` lays out
titles fitted to a column or row.
"""
from __future__ import annotations
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torchvision
from mmengine.visualization import Visualizer

from ..utils.io import atomic_imwrite

__all__ = [
    'to_bgr_uint8',
    'grid_layout',
    'make_grid',
    'overlay_mask',
    'save_grid',
]

Color = Tuple[int, int, int]
Cell = Optional[np.ndarray]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MIN_SCALE = 0.3
_TEXT_MARGIN = 4


def to_bgr_uint8(img: np.ndarray) -> np.ndarray:
    """Convert an image to a contiguous (H, W, 3) uint8 BGR array.

    Args:
        img: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array. uint8 is used
            as is; bool becomes 0/255; floats are taken to lie in [0, 1]
            (clipped, NaN -> 0); other integer types are min-max scaled.
            Four channels drop alpha.

    Returns:
        np.ndarray: (H, W, 3) uint8.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f'expected an image of shape (H, W), (H, W, 1), '
                         f'(H, W, 3) or (H, W, 4), got {a.shape}')
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.dtype == np.uint8:
        out = a
    elif a.dtype == bool:
        out = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(
            a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        out = (np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        f = a.astype(np.float64)
        lo, hi = (float(f.min()), float(f.max())) if f.size else (0.0, 0.0)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        out = ((f - lo) * scale + 0.5).astype(np.uint8)
    else:
        raise TypeError(f'unsupported image dtype {a.dtype}')
    if out.ndim == 2:
        out = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(out)


def _resize(img: np.ndarray, size: Tuple[int, int],
            interpolation: Union[str, int]) -> np.ndarray:
    """Resize a BGR uint8 image to ``size`` = (H, W)."""
    h, w = img.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return img
    if interpolation == 'auto':
        if th >= 2 * h and tw >= 2 * w:
            interp = cv2.INTER_NEAREST  # tiny masks / patch grids stay crisp
        elif th <= h and tw <= w:
            interp = cv2.INTER_AREA
        else:
            interp = cv2.INTER_LINEAR
    elif isinstance(interpolation, str):
        try:
            interp = {
                'nearest': cv2.INTER_NEAREST,
                'linear': cv2.INTER_LINEAR,
                'area': cv2.INTER_AREA,
                'cubic': cv2.INTER_CUBIC
            }[interpolation]
        except KeyError:
            raise ValueError(f'unknown interpolation {interpolation!r}')
    else:
        interp = int(interpolation)
    return cv2.resize(img, (tw, th), interpolation=interp)


def _font_scale(cell_w: int) -> float:
    """Font scale for titles: 0.6 at 224 px cells, within [0.35, 1.2]."""
    return float(min(1.2, max(0.35, 0.6 * cell_w / 224.0)))


def _thickness(scale: float) -> int:
    return 1 if scale < 0.9 else 2


def _fit_line(text: str, max_w: int, scale: float) -> Tuple[str, float]:
    """Shrink (then truncate) a line of text so it fits ``max_w`` pixels."""
    s = scale
    while s > _MIN_SCALE:
        if cv2.getTextSize(text, _FONT, s, _thickness(s))[0][0] <= max_w:
            return text, s
        s = max(_MIN_SCALE, s - 0.05)
    s = _MIN_SCALE
    t = text
    while len(t) > 1 and \
            cv2.getTextSize(t + '..', _FONT, s, 1)[0][0] > max_w:
        t = t[:-1]
    return (t + '..' if t != text else t), s


def _text_block(
        text: str, scale: float,
        max_w: Optional[int]) -> Tuple[List[Tuple[str, float]], int, int]:
    """Lines of ``text`` (split on newlines) with their scales; (w, h)."""
    lines = []
    for line in str(text).split('\n'):
        if max_w is not None:
            # keep a 2 px margin: anti-aliased glyphs may overhang a little
            lines.append(_fit_line(line, max(1, max_w - 2), scale))
        else:
            lines.append((line, scale))
    width, height = 0, 0
    for line, s in lines:
        (tw, th), base = cv2.getTextSize(line or ' ', _FONT, s, _thickness(s))
        width = max(width, tw)
        height += th + base + 2
    return lines, width, height


def _put_block(canvas: np.ndarray, lines: List[Tuple[str, float]], x: int,
               y: int, w: int, align: str, color: Color) -> None:
    """Draw lines starting at top ``y`` within [x, x + w)."""
    for line, s in lines:
        th_ = _thickness(s)
        (tw, th), base = cv2.getTextSize(line or ' ', _FONT, s, th_)
        if align == 'center':
            tx = x + max(0, (w - tw) // 2)
        elif align == 'right':
            tx = x + max(0, w - tw)
        else:
            tx = x
        cv2.putText(canvas, line, (tx, y + th), _FONT, s, color, th_,
                    cv2.LINE_AA)
        y += th + base + 2


def _normalise_rows(rows: Sequence[Sequence[Cell]]) -> List[List[Cell]]:
    if isinstance(rows, np.ndarray):
        raise TypeError('rows must be a list of lists of images, not an array')
    out = [list(r) for r in rows]
    if not out or not any(len(r) for r in out):
        raise ValueError('make_grid needs at least one cell')
    return out


def grid_layout(rows: Sequence[Sequence[Cell]],
                col_titles: Optional[Sequence[str]] = None,
                row_titles: Optional[Sequence[str]] = None,
                cell_size: Optional[Tuple[int, int]] = None,
                pad: int = 4) -> Dict[str, object]:
    """Compute where :func:`make_grid` puts things, without drawing.

    The picture is ``pad`` + [row title band + ``pad``] + ``n_cols`` x
    (cell width + ``pad``) wide and ``pad`` + [column title band + ``pad``] +
    ``n_rows`` x (cell height + ``pad``) high.

    Args:
        rows: Cells as in :func:`make_grid`.
        col_titles: Column titles or ``None``.
        row_titles: Row titles or ``None``.
        cell_size: ``(H, W)`` of every cell, or ``None`` for the largest
            height and width over all cells.
        pad: Gap in pixels between and around cells.

    Returns:
        dict: ``shape`` (H, W, 3), ``cell_size`` (h, w), ``n_rows``,
        ``n_cols``, ``top`` (height of the column title band, 0 without
        titles), ``left`` (width of the row title band, 0 without titles),
        ``x0``/``y0`` (top-left of the first cell) and ``cells``: a list of
        rows of ``(x, y)`` cell origins.
    """
    rows = _normalise_rows(rows)
    n_rows = len(rows)
    n_cols = max(len(r) for r in rows)
    if col_titles is not None and len(col_titles) != n_cols:
        raise ValueError(f'got {len(col_titles)} column titles for {n_cols} '
                         'columns')
    if row_titles is not None and len(row_titles) != n_rows:
        raise ValueError(f'got {len(row_titles)} row titles for {n_rows} rows')
    pad = int(pad)
    if pad < 0:
        raise ValueError(f'pad must be >= 0, got {pad}')
    if cell_size is None:
        shapes = [
            np.asarray(c).shape[:2] for r in rows for c in r if c is not None
        ]
        if not shapes:
            raise ValueError('all cells are None; give cell_size')
        ch = max(s[0] for s in shapes)
        cw = max(s[1] for s in shapes)
    else:
        ch, cw = int(cell_size[0]), int(cell_size[1])
    if ch < 1 or cw < 1:
        raise ValueError(f'cell size must be positive, got {(ch, cw)}')
    scale = _font_scale(cw)
    top = 0
    if col_titles is not None:
        top = max(_text_block(t, scale, cw)[2] for t in col_titles) + \
            _TEXT_MARGIN
    left = 0
    if row_titles is not None:
        # row titles may use up to one cell width (at least 60 px)
        max_w = max(cw, 60)
        left = max(_text_block(t, scale, max_w)[1] for t in row_titles) + \
            _TEXT_MARGIN
    x0 = pad + (left + pad if row_titles is not None else 0)
    y0 = pad + (top + pad if col_titles is not None else 0)
    H = y0 + n_rows * (ch + pad)
    W = x0 + n_cols * (cw + pad)
    cells = [[(x0 + j * (cw + pad), y0 + i * (ch + pad))
              for j in range(n_cols)] for i in range(n_rows)]
    return dict(
        shape=(H, W, 3),
        cell_size=(ch, cw),
        n_rows=n_rows,
        n_cols=n_cols,
        top=top,
        left=left,
        x0=x0,
        y0=y0,
        cells=cells,
        font_scale=scale)


def make_grid(rows: Sequence[Sequence[Cell]],
              col_titles: Optional[Sequence[str]] = None,
              row_titles: Optional[Sequence[str]] = None,
              cell_size: Optional[Tuple[int, int]] = None,
              pad: int = 4,
              background: int = 255,
              interpolation: Union[str, int] = 'auto',
              text_color: Optional[Color] = None) -> np.ndarray:
    """Tile images into one titled BGR picture.

    Args:
        rows: A list of rows, each a list of cells. A cell is a (H, W),
            (H, W, 1) or (H, W, 3) image, uint8 or float in [0, 1] (see
            :func:`to_bgr_uint8`), or ``None`` for an empty cell. Rows may be
            shorter than the longest row; missing cells stay empty.
        col_titles: One title per column, drawn centred above the columns
            (``'\\n'`` starts a new line; long titles are shrunk, then cut).
        row_titles: One title per row, drawn left of the rows.
        cell_size: ``(H, W)`` every cell is resized to; ``None`` uses the
            largest height and width over all cells.
        pad: Gap in pixels between and around cells.
        background: Gray level of the canvas (torchvision's ``pad_value``).
        interpolation: ``'auto'`` (nearest when enlarging at least 2x, so
            tiny masks stay blocky; area when shrinking; linear otherwise),
            ``'nearest'``, ``'linear'``, ``'area'``, ``'cubic'`` or an OpenCV
            flag.
        text_color: Title colour; default black on light backgrounds and
            white on dark ones.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR picture whose shape is
        ``grid_layout(...)['shape']``.
    """
    rows = _normalise_rows(rows)
    lay = grid_layout(rows, col_titles, row_titles, cell_size, pad)
    H, W, _ = lay['shape']
    ch, cw = lay['cell_size']
    bg = int(background)
    if text_color is None:
        text_color = (0, 0, 0) if bg >= 128 else (255, 255, 255)
    n_cols = lay['n_cols']
    cells = torch.full((lay['n_rows'] * n_cols, 3, ch, cw),
                       bg,
                       dtype=torch.uint8)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            if cell is not None:
                cells[i * n_cols + j] = torch.from_numpy(
                    _resize(to_bgr_uint8(cell), (ch, cw),
                            interpolation)).permute(2, 0, 1)
    tiled = torchvision.utils.make_grid(
        cells, nrow=n_cols, padding=pad, pad_value=bg)
    canvas = np.full((H, W, 3), bg, np.uint8)
    # torchvision returns a single cell without its padding.
    x, y = (lay['x0'], lay['y0']) if len(cells) == 1 else (lay['x0'] - pad,
                                                           lay['y0'] - pad)
    canvas[y:y + tiled.shape[1],
           x:x + tiled.shape[2]] = tiled.permute(1, 2, 0).numpy()
    scale = lay['font_scale']
    if col_titles is not None:
        for j, title in enumerate(col_titles):
            lines, _, th = _text_block(title, scale, cw)
            x = lay['x0'] + j * (cw + pad)
            y = pad + lay['top'] - _TEXT_MARGIN - th  # bottom-aligned
            _put_block(canvas, lines, x, max(0, y), cw, 'center', text_color)
    if row_titles is not None:
        for i, title in enumerate(row_titles):
            lines, _, th = _text_block(title, scale, max(cw, 60))
            y = lay['y0'] + i * (ch + pad) + max(0, (ch - th) // 2)
            _put_block(canvas, lines, pad, y, lay['left'], 'left', text_color)
    return canvas


def overlay_mask(gray: np.ndarray,
                 mask: np.ndarray,
                 color: Color = (0, 0, 255),
                 alpha: float = 0.5) -> np.ndarray:
    """Tint the masked part of an image.

    Args:
        gray: Image as accepted by :func:`to_bgr_uint8` (gray or BGR, uint8
            or float in [0, 1]).
        mask: (h, w) mask, 1 (or True) where masked; a coarser mask such as a
            per-patch IAM mask (e.g. 14 x 14) is enlarged with nearest
            neighbour to the image size.
        color: BGR tint.
        alpha: Opacity of the tint on masked pixels.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR image.
    """
    img = to_bgr_uint8(gray)
    h, w = img.shape[:2]
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise ValueError(f'mask must be 2-D, got shape {m.shape}')
    m = cv2.resize(
        (m > 0).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    visualizer = Visualizer(image=img[..., ::-1])  # it draws in RGB
    visualizer.draw_binary_masks(
        m.astype(bool), colors=tuple(color[::-1]), alphas=float(alpha))
    return np.ascontiguousarray(visualizer.get_image()[..., ::-1])


def save_grid(path: Union[str, 'os.PathLike[str]'],
              rows: Sequence[Sequence[Cell]],
              col_titles: Optional[Sequence[str]] = None,
              row_titles: Optional[Sequence[str]] = None,
              cell_size: Optional[Tuple[int, int]] = None,
              pad: int = 4,
              background: int = 255,
              **kwargs) -> np.ndarray:
    """Build a grid with :func:`make_grid` and write it atomically.

    Args:
        path: Output image path; the suffix chooses the format.
        rows: Cells, as in :func:`make_grid`.
        col_titles: Column titles.
        row_titles: Row titles.
        cell_size: Common cell size ``(H, W)``.
        pad: Gap between cells.
        background: Canvas gray level.
        **kwargs: Further :func:`make_grid` arguments.

    Returns:
        np.ndarray: The grid that was written.
    """
    grid = make_grid(
        rows,
        col_titles=col_titles,
        row_titles=row_titles,
        cell_size=cell_size,
        pad=pad,
        background=background,
        **kwargs)
    atomic_imwrite(path, grid)
    return grid
