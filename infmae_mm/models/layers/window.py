"""Non-overlapping window partition of a token grid (ViTDet, detectron2).

A stage-3 block with window attention runs on ``window_size`` x
``window_size`` windows of the token grid instead of the whole grid:
:func:`window_partition` cuts the (B, h * w, C) tokens into windows (the grid
zero-padded to a multiple of the window), the block runs on them as a batch,
and :func:`window_unpartition` puts them back and drops the padding.

Both are written with sizes that may be traced 0-d tensors (ONNX export):
the padding is always applied (a zero-width pad is a copy), never decided by
a Python comparison.
"""
from typing import Callable, Optional, Tuple, Union

import torch
import torch.nn.functional as F

Size = Union[int, torch.Tensor]


def window_partition(
        tokens: torch.Tensor, grid: Tuple[Size, Size],
        window_size: int) -> Tuple[torch.Tensor, Tuple[Size, Size]]:
    """Cut a token grid into non-overlapping windows.

    Args:
        tokens (torch.Tensor): (B, h * w, C) tokens of an (h, w) grid, row
            major.
        grid (tuple[int, int]): The grid (h, w).
        window_size (int): Window side ws.

    Returns:
        tuple: ``windows`` (B * nh * nw, ws * ws, C), window by window in
        row-major order of the windows, each row major; and the padded grid
        (Hp, Wp) = (nh * ws, nw * ws), what :func:`window_unpartition` takes.
    """
    B, _, C = tokens.shape
    h, w = grid
    ph, pw = (window_size - h % window_size) % window_size, \
        (window_size - w % window_size) % window_size
    x = F.pad(tokens.reshape(B, h, w, C), (0, 0, 0, pw, 0, ph))
    Hp, Wp = h + ph, w + pw
    x = x.reshape(B, Hp // window_size, window_size, Wp // window_size,
                  window_size, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window_size * window_size, C), (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int,
                       padded_grid: Tuple[Size, Size],
                       grid: Tuple[Size, Size]) -> torch.Tensor:
    """Put windows back into the token grid; the inverse of
    :func:`window_partition`.

    Args:
        windows (torch.Tensor): (B * nh * nw, ws * ws, C), as
            :func:`window_partition` returns them.
        window_size (int): Window side ws.
        padded_grid (tuple[int, int]): (Hp, Wp) from
            :func:`window_partition`.
        grid (tuple[int, int]): The unpadded grid (h, w).

    Returns:
        torch.Tensor: (B, h * w, C) tokens, the padding dropped.
    """
    Hp, Wp = padded_grid
    h, w = grid
    C = windows.shape[-1]
    x = windows.reshape(-1, Hp // window_size, Wp // window_size, window_size,
                        window_size, C).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(-1, Hp, Wp, C)[:, :h, :w]
    return x.reshape(x.shape[0], h * w, C)


def run_in_windows(block: Callable[[torch.Tensor, Optional[torch.Tensor]],
                                   torch.Tensor], tokens: torch.Tensor,
                   grid: Tuple[Size, Size], window_size: Optional[int],
                   bias: Optional[torch.Tensor]) -> torch.Tensor:
    """Run ``block(tokens, bias)`` over the whole grid (``window_size`` None)
    or within its windows (ViTDet).

    Args:
        block (callable): Maps (B', L, C) tokens and an attention bias
            (1, heads, L, L) or None to (B', L, C).
        tokens (torch.Tensor): (B, h * w, C).
        grid (tuple[int, int]): The grid (h, w).
        window_size (int, optional): Window side; None for global attention.
        bias (torch.Tensor, optional): The bias for the grid, or for one
            window when windowed.

    Returns:
        torch.Tensor: (B, h * w, C).
    """
    if window_size is None:
        return block(tokens, bias)
    windows, padded = window_partition(tokens, grid, window_size)
    return window_unpartition(block(windows, bias), window_size, padded, grid)
