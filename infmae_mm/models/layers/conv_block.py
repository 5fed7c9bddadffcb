"""The conv-stage layers of InfMAE (MCMAE's CBlock), written channels-last.

Every layer here takes channels-last values ``(..., H, W, C)``: 1x1
convolutions are :class:`Pointwise` linear maps and LayerNorms the native
``nn.LayerNorm``, so the same modules serve a whole (B, H, W, C) map and a
batch of visible blocks (B * N_vis, side, side, C) of it (pre-training's
visible path). The depthwise mixer is the one operator that depends on the
layout: it is computed by the ``layout`` a block is called with (a
:class:`DenseLayout` here; the visible path's
:class:`~infmae_mm.models.backbones.visible_conv_stages.VisibleBlocks`).
"""
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath


class Pointwise(nn.Linear):
    """A 1x1 convolution on channels-last values (a linear map over C).

    Loads the weight of a 1x1 ``nn.Conv2d`` (C_out, C_in, 1, 1) too, the
    layout of the official code and of infmae_mm checkpoints written before
    the conv stages were channels-last. It is not an ``nn.Linear`` of MAE's
    initialisation: like the official 1x1 convolutions it keeps PyTorch's
    default initialisation (:func:`~.weight_init.mae_init_` skips it).
    """

    #: Loads a (C_out, C_in, 1, 1) weight (read by the checkpoint checks of
    #: :mod:`infmae_mm.utils.checkpoint`).
    loads_conv1x1 = True

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str,
                              *args, **kwargs) -> None:
        weight = state_dict.get(prefix + 'weight')
        if isinstance(weight, torch.Tensor) and weight.dim() == 4 \
                and weight.shape[2:] == (1, 1):
            state_dict[prefix + 'weight'] = weight.flatten(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class DenseLayout:
    """The depthwise mixer over a whole channels-last map.

    Args:
        visible (torch.Tensor, optional): (B, H, W, 1), 1 where the input
            is visible and 0 where it is masked (zeroed before the mixer, the
            official masked formulation). None means all visible.
    """

    def __init__(self, visible: Optional[torch.Tensor] = None) -> None:
        self.visible = visible

    def depthwise(self, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """``conv`` ('same' padding, groups = C) of a (B, H, W, C) map."""
        if self.visible is not None:
            x = x * self.visible
        return conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


#: The layout of an unmasked map.
DENSE = DenseLayout()


class ConvFFN(nn.Module):
    """Pointwise feed-forward network: 1x1 conv -> GELU -> 1x1 conv, on
    channels-last values (..., C)."""

    def __init__(self, embed_dims: int, mlp_ratio: float = 4.) -> None:
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.fc1 = Pointwise(embed_dims, hidden)
        self.act = nn.GELU()
        self.fc2 = Pointwise(hidden, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MaskedConvBlock(nn.Module):
    """Residual conv block whose depthwise token mixer only sees visible input.

    ``x = x + conv2(dwconv(visible * conv1(norm1(x))))`` followed by
    ``x = x + ffn(norm2(x))``. Zeroing the masked positions right before the
    5x5 depthwise convolution is what keeps masked content from leaking into
    visible positions during pre-training; downstream the mask is omitted.

    Args:
        embed_dims (int): Channels C.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        kernel_size (int): Depthwise mixer kernel. Defaults to 5.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        norm_eps (float): LayerNorm epsilon (official: 1e-5).
    """

    def __init__(self,
                 embed_dims: int,
                 mlp_ratio: float = 4.,
                 kernel_size: int = 5,
                 drop_path: float = 0.,
                 norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.conv1 = Pointwise(embed_dims, embed_dims)
        self.dwconv = nn.Conv2d(
            embed_dims,
            embed_dims,
            kernel_size,
            padding=kernel_size // 2,
            groups=embed_dims)
        self.conv2 = Pointwise(embed_dims, embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.ffn = ConvFFN(embed_dims, mlp_ratio)
        self.drop_path = DropPath(
            drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, layout: Any = DENSE) -> torch.Tensor:
        """Run the block.

        Args:
            x (torch.Tensor): (B, H, W, C) channels-last values: a map, or
                the visible blocks of one (``layout`` says which).
            layout: Computes the depthwise mixer for ``x``'s layout: a
                :class:`DenseLayout` (default: an unmasked map) or the
                visible path's ``VisibleBlocks``.

        Returns:
            torch.Tensor: (B, H, W, C).
        """
        y = layout.depthwise(self.conv1(self.norm1(x)), self.dwconv)
        x = x + self.drop_path(self.conv2(y))
        return x + self.drop_path(self.ffn(self.norm2(x)))
