"""Multi-scale fusion of the conv-stage features into the visible tokens."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn

from infmae_mm.registry import register_in_hosts
from ..layers.visible_blocks import aligned_conv_on_blocks


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class InfMAEStageFusion(nn.Module):
    """Project F1 and F2 onto the token grid and gather the visible tokens.

    Paper section 4.3: F1 and F2 are brought to the token size by strided
    convolutions aligned with the 16x16 patches (k4/s4 from stride 4, k2/s2
    from stride 8), the visible positions are gathered with the IAM ids and
    their sum is added to the stage-3 tokens. Pre-training only.

    Args:
        in_channels (Sequence[int]): Channels of F1 and F2.
        out_channels (int): Token channels C3.
        strides (Sequence[int]): Kernel = stride of each projection, the
            ratio between the stage's stride and the token stride (16).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 384),
                 out_channels: int = 768,
                 strides: Sequence[int] = (4, 2)) -> None:
        super().__init__()
        self.projections = nn.ModuleList([
            nn.Conv2d(c, out_channels, kernel_size=s, stride=s)
            for c, s in zip(in_channels, strides)
        ])

    def forward(self, features: Tuple[torch.Tensor, ...],
                ids_keep: torch.Tensor) -> torch.Tensor:
        """Fuse.

        Args:
            features (tuple[torch.Tensor]): F1 (B, C1, 4h, 4w) and
                F2 (B, C2, 2h, 2w).
            ids_keep (torch.Tensor): (B, N_vis) visible token ids.

        Returns:
            torch.Tensor: (B, N_vis, C3), the summed projections.
        """
        fused = 0
        for feat, proj in zip(features, self.projections):
            tokens = proj(feat).flatten(2).transpose(1, 2)
            fused = fused + torch.gather(
                tokens, 1,
                ids_keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        return fused

    def forward_blocks(self, blocks: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Fuse the visible blocks of the fast path (``visible_blocks``).

        Args:
            blocks (tuple[torch.Tensor]): F1 (B, N_vis, 16, C1) and
                F2 (B, N_vis, 4, C2), the positions each visible token covers.

        Returns:
            torch.Tensor: (B, N_vis, C3), equal to :meth:`forward`.
        """
        fused = 0
        for feat, proj in zip(blocks, self.projections):
            side = proj.kernel_size[0]
            fused = fused + aligned_conv_on_blocks(feat, side, proj.weight,
                                                   proj.bias)[:, :, 0]
        return fused
