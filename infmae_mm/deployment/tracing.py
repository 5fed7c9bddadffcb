"""Tracing rewrites: model steps recorded so that the graph fits any size.

Under tracing (``torch.onnx.export``, ``torch.jit.trace``) input sizes are
0-d tensors. Eager code that compares them with a module's build-time sizes,
or builds a table from Python ints, is frozen by the trace into constants of
the example input; the rewrites here compute the same step as operations on
the traced sizes, with no shortcut for the build-time size, so the exported
graph is right for every input size.
"""
from typing import Tuple, Union

import torch
import torch.nn as nn

from infmae_mm.models.layers import resize_pos_embed, sincos_pos_embed_2d

Size = Union[int, torch.Tensor]


def traced_position_table(backbone: nn.Module,
                          grid_size: Tuple[Size, Size]) -> torch.Tensor:
    """``InfMAEViT.position_table`` recorded for a grid of traced sizes.

    * fixed sin-cos: computed in float32 (ONNX Runtime has no float64
      ``Cos`` and TensorRT no float64 at all); it differs from the eager
      float64 table by float32 rounding of the angles (about 1e-6 for a
      40-token side).
    * learned: the same bicubic resize as :func:`resize_pos_embed`, which is
      the identity at the table's own grid.

    Args:
        backbone (nn.Module): An ``InfMAEViT`` (its ``pos_embed``,
            ``grid_size``, ``embed_dims`` and ``learnable_pos_embed``).
        grid_size (tuple): Token grid (h, w), ints or traced 0-d tensors.

    Returns:
        torch.Tensor: The position table (1, h * w, C3).
    """
    if not backbone.learnable_pos_embed:
        return sincos_pos_embed_2d(
            backbone.embed_dims[2], grid_size,
            dtype=torch.float32).to(backbone.pos_embed)
    return resize_pos_embed(
        backbone.pos_embed,
        backbone.grid_size,
        grid_size,
        skip_same_shape=False)
