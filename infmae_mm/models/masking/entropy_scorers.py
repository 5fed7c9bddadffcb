"""Entropy patch scorers of DuGI-MAE's deterministic masking.

Two criteria, both ranked by the one IAM selection code (``select_tokens``):

* the paper's (Eq. 1-2): the Shannon entropy in bits of each 16x16 patch's
  256-level gray histogram, keep the highest N / 4. That is the ``'entropy'``
  scorer of :mod:`~infmae_mm.models.masking.scorers` (uint8 images in the
  pipeline are binned on 0-255, i.e. one bin per gray level), selected with
  ``selection='top', descending=True``;
* the released code's: the Shannon entropy in nats of the softmax over the
  channels of each token of a stride-16 patch embedding, keep the lowest
  N / 4 (``selection='top', descending=False``): :func:`softmax_entropy`,
  registered as the ``'embedding_entropy'`` scorer (it needs the embedding's
  conv weights, so it runs inside the model).
"""
from typing import Optional

import torch
import torch.nn.functional as F

from .scorers import register_scorer


def softmax_entropy(tokens: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the channel softmax of every token.

    The released code clamps the probabilities at 1e-9 before the log; so
    does this. The result lies in [0, ln C].

    Args:
        tokens (torch.Tensor): (B, N, C) patch embeddings.

    Returns:
        torch.Tensor: (B, N) float32 entropies.
    """
    if tokens.dim() != 3:
        raise ValueError('softmax_entropy expects (B, N, C) tokens, got '
                         f'shape {tuple(tokens.shape)}.')
    prob = F.softmax(tokens.float(), dim=-1).clamp_min(1e-9)
    return -(prob * prob.log()).sum(-1)


@register_scorer('embedding_entropy', needs_weights=True)
def embedding_entropy_scores(images: torch.Tensor,
                             patch_size: int,
                             weight: torch.Tensor,
                             bias: Optional[torch.Tensor] = None,
                             **kwargs) -> torch.Tensor:
    """The released DuGI-MAE code's scorer: softmax entropy of the tokens of a
    Conv(C -> D, k = s = patch) embedding of the normalised image.

    Args:
        images (torch.Tensor): (B, C, H, W) normalised images.
        patch_size (int): Patch side.
        weight (torch.Tensor): (D, C, p, p) embedding weight.
        bias (torch.Tensor, optional): (D, ) embedding bias.

    Returns:
        torch.Tensor: (B, N) entropies in nats, raster order.
    """
    tokens = F.conv2d(images, weight, bias, stride=patch_size)
    return softmax_entropy(tokens.flatten(2).transpose(1, 2))
