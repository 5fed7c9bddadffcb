"""Multi-scale fusion of the conv-stage features into the visible tokens."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from infmae_mm.registry import register_in_hosts
from ..width_check import check_widths


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class InfMAEStageFusion(nn.Module):
    """Project F1 and F2 of the visible tokens onto the token grid and sum.

    Paper section 4.3: F1 and F2 are brought to the token size by strided
    convolutions aligned with the 16x16 patches (k4/s4 from stride 4, k2/s2
    from stride 8), the visible positions are kept and their sum is added to
    the stage-3 tokens. Pre-training only.

    The encoder hands over, for every visible token, the F1 and F2 values
    that its 16x16 patch covers (``(B, N_vis, P, C)`` blocks, positions in
    raster order inside the patch). A kernel = stride projection aligned with
    the patch reads exactly one block, so it is one matrix product per
    block, equal to the convolution over the whole map followed by a gather
    of the visible tokens.

    Args:
        in_channels (Sequence[int]): Channels of F1 and F2.
        out_channels (int): Token channels C3.
        strides (Sequence[int]): Kernel = stride of each projection, the
            ratio between the stage's stride and the token stride (16).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 384),
                 out_channels: int = 768,
                 strides: Sequence[int] = (4, 2)):
        super().__init__()
        self.projections = nn.ModuleList([
            nn.Conv2d(c, out_channels, kernel_size=s, stride=s)
            for c, s in zip(in_channels, strides)
        ])

    def forward(self, blocks: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Fuse.

        Args:
            blocks (tuple[torch.Tensor]): F1 (B, N_vis, s1 * s1, C1) and
                F2 (B, N_vis, s2 * s2, C2) at the visible tokens, s the
                projection strides (4 and 2).

        Returns:
            torch.Tensor: (B, N_vis, C3), the summed projections.
        """
        check_widths('InfMAEStageFusion', 'model.stage_fusion.in_channels',
                     [proj.in_channels for proj in self.projections],
                     [feat.shape[-1] for feat in blocks], 'F1-F2 inputs')
        fused = 0
        for feat, proj in zip(blocks, self.projections):
            side = proj.kernel_size[0]
            if feat.shape[2] != side * side:
                raise ValueError(
                    f'InfMAEStageFusion expects {side * side} positions per '
                    f'visible token for its stride-{side} projection, got '
                    f'{feat.shape[2]} (features of shape '
                    f'{tuple(feat.shape)}).')
            # (C3, C, k, k) -> (C3, k * k * C), matching raster (p, q, c).
            weight = proj.weight.permute(0, 2, 3,
                                         1).reshape(proj.weight.shape[0], -1)
            fused = fused + F.linear(feat.flatten(2), weight, proj.bias)
        return fused
