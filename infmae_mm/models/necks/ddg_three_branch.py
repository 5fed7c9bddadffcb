"""DDG in the form of the released DuGI-MAE code: three branches."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from infmae_mm.registry import register_in_hosts
from ..layers.branch_attention_unit import BranchAttentionUnit
from ..masking import IAMMask, inverse_permutation, shuffle_ids


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class DDGThreeBranch(BaseModule):
    """Three attention + FFN branches whose outputs fill the masked slots.

    As in the released code (``forward_decoder``): branch 0 sees
    ``w0 * latent + w1 * freq`` (w = 0.5, 0.5 at init), branches 1 and 2 see
    the latents alone; the three (B, n, C) outputs are concatenated to
    (B, 3n, C) and the decoder receives concatenated token rho at the masked
    position of rank rho (branch rho // n applied to visible token
    rho mod n), and its mask token at the n visible positions. This needs
    exactly a quarter of the tokens visible (3n = N - n).

    The code creates its mix weights inside the forward, so they never
    train there; here they are registered and trained.

    Args:
        embed_dims (int): Encoder width C3. Defaults to 768.
        num_heads (int): Heads. Defaults to 12.
        num_branches (int): Branches; the code has 3. Defaults to 3.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        code_order (bool): Pair ranks as the released code does. Its masking
            sorts entropies descending and keeps the tail, so both its
            masked list and its visible list run from high to low entropy;
            the package's selection (ascending, keep the head) yields the
            same sets in the reverse order. True reverses both lists, so the
            highest-entropy masked positions receive branch 0 (the
            frequency-fed one) of the highest-entropy visible token, as in
            the code. Defaults to True.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int = 768,
                 num_heads: int = 12,
                 num_branches: int = 3,
                 mlp_ratio: float = 4.,
                 code_order: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_branches = num_branches
        self.code_order = code_order
        self.mix = nn.Parameter(torch.tensor([0.5, 0.5]))
        self.branches = nn.ModuleList([
            BranchAttentionUnit(embed_dims, num_heads, mlp_ratio)
            for _ in range(num_branches)
        ])

    def forward(
        self, latent: torch.Tensor, freq: torch.Tensor,
        ids_restore: Union[IAMMask, torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Build the decoder tokens and their placement.

        Args:
            latent (torch.Tensor): (B, n, C) encoder output, visible tokens in
                mask rank order.
            freq (torch.Tensor): (B, n, C) downsampled frequency tokens.
            ids_restore (IAMMask | torch.Tensor): The masks, or their (B, N)
                un-shuffle ids alone: position p holds rank
                ``ids_restore[p]`` in ``cat([visible, masked])``.

        Returns:
            tuple: ``tokens`` (B, num_branches * n, C) and the un-shuffle ids
            (B, N) that put them at the masked positions: the decoder appends
            n mask tokens and gathers with them.
        """
        B, n, _ = latent.shape
        ids_restore, order = shuffle_ids(ids_restore)
        N = ids_restore.shape[1]
        if self.num_branches * n != N - n:
            raise ValueError(
                f'The three-branch DDG fills the {N - n} masked positions '
                f'with {self.num_branches} x {n} branch tokens, so it needs '
                f'exactly {N // (self.num_branches + 1)} visible tokens of '
                f'{N} (got {n}); use a masking that keeps 1/'
                f'{self.num_branches + 1} of the tokens (stride '
                f'{self.num_branches + 1}, selection top: '
                f'model.mask_generator, or IAMMaskGenerator in '
                f'train_dataloader.dataset.pipeline) or the paper-form '
                "fusion dict(type='DDGGuidedAttention') (model.neck.guidance."
                'fusion in DuGI-MAE configs, model.guidance.fusion in '
                'MAEWithDDG ones).')
        ids_keep, ids_masked = order[:, :n], order[:, n:]
        if self.code_order:
            latent, ids_keep, ids_masked = (latent.flip(1), ids_keep.flip(1),
                                            ids_masked.flip(1))
        mixed = self.mix[0] * latent + self.mix[1] * freq
        outputs = [self.branches[0](mixed)]
        outputs += [branch(latent) for branch in self.branches[1:]]
        tokens = torch.cat(outputs, dim=1)
        placement = inverse_permutation(torch.cat([ids_masked, ids_keep], 1))
        return tokens, placement
