"""DDG in the form of the DuGI-MAE paper: frequency-guided attention."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from infmae_mm.registry import register_in_hosts
from ..layers.frequency_guided_block import FrequencyGuidedBlock


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class DDGGuidedAttention(BaseModule):
    """Stacked frequency-guided attention (paper Eq. 5, Fig. 3c).

    Block 1 attends from the encoder's visible tokens to (visible tokens +
    frequency tokens); block l > 1 attends from the visible tokens to
    (visible tokens + block l-1's output). The last output, one token per
    visible token, enters the decoder in place of the visible latents, so
    the decoder places it at the visible positions like any MAE latent.

    Args:
        embed_dims (int): Encoder width C3. Defaults to 768.
        num_heads (int): Heads. Defaults to 12.
        num_blocks (int): Blocks; unspecified in the paper, 3 here (the
            released code's branch count). Defaults to 3.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int = 768,
                 num_heads: int = 12,
                 num_blocks: int = 3,
                 mlp_ratio: float = 4.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 1:
            raise ValueError(f'DDG needs at least one block, got num_blocks='
                             f'{num_blocks}.')
        self.blocks = nn.ModuleList([
            FrequencyGuidedBlock(embed_dims, num_heads, mlp_ratio)
            for _ in range(num_blocks)
        ])

    def forward(
            self, latent: torch.Tensor, freq: torch.Tensor,
            ids_restore: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Guide the visible latents with the frequency tokens.

        Args:
            latent (torch.Tensor): (B, N_vis, C) encoder output.
            freq (torch.Tensor): (B, N_vis, C) frequency tokens, paired with
                the latents.
            ids_restore (torch.Tensor): (B, N) un-shuffle ids of the masks.

        Returns:
            tuple: the (B, N_vis, C) decoder tokens and ``ids_restore``
            unchanged (the tokens take the visible positions).
        """
        guide = freq
        for block in self.blocks:
            guide = block(latent, guide)
        return guide, ids_restore
