"""Adaptive average pooling that ONNX records for every input size."""
from typing import Sequence, Union

import torch
import torch.nn as nn


class ExportableAdaptiveAvgPool2d(nn.Module):
    """``AdaptiveAvgPool2d`` written as two averaging matrices.

    ONNX has no adaptive average pooling: the exporter lowers an
    ``AdaptiveAvgPool2d`` whose output is larger than 1x1 (UperNet's pyramid
    pooling, scales 2, 3, 6) only for a fixed input size. This module computes
    the same operation from the input's (traced) size with ``arange`` and
    comparisons, which ONNX records for any size: output cell ``i`` of ``n``
    along a side of length ``L`` averages inputs ``floor(i * L / n)`` to
    ``ceil((i + 1) * L / n) - 1``, as PyTorch does.

    Args:
        output_size (int | Sequence[int]): As for ``AdaptiveAvgPool2d``;
            None entries are not supported.
    """

    def __init__(self, output_size: Union[int, Sequence[int]]) -> None:
        super().__init__()
        size = output_size if isinstance(output_size, (tuple, list)) else \
            (output_size, output_size)
        if len(size) != 2 or any(s is None for s in size):
            raise ValueError(f'ExportableAdaptiveAvgPool2d needs two integer '
                             f'output sizes, got {output_size!r}.')
        self.output_size = tuple(int(s) for s in size)

    @staticmethod
    def averaging_matrix(length: Union[int, torch.Tensor], cells: int,
                         dtype: torch.dtype) -> torch.Tensor:
        """(cells, length) matrix whose rows average the cells' inputs."""
        index = torch.arange(cells)
        start = torch.div(index * length, cells, rounding_mode='floor')
        end = torch.div(
            (index + 1) * length + cells - 1, cells, rounding_mode='floor')
        pos = torch.arange(length)
        inside = (pos[None, :] >= start[:, None]) & (
            pos[None, :] < end[:, None])
        return inside.to(dtype) / (end - start)[:, None].to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool (B, C, H, W) to (B, C, out_h, out_w)."""
        rows = self.averaging_matrix(x.shape[-2], self.output_size[0],
                                     x.dtype).to(x.device)
        cols = self.averaging_matrix(x.shape[-1], self.output_size[1],
                                     x.dtype).to(x.device)
        return torch.matmul(torch.matmul(rows, x), cols.t())
