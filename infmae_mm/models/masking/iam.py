"""Information-aware masking (IAM): patch scoring and visible-token selection.

This file holds the one implementation of IAM. The ``IAMMaskGenerator`` data
transform calls it per image on raw pixels; ``IAMMasking`` calls it per batch
inside the model (needed by the official linear scorer, whose weights live in
the checkpoint).

Selection works on the ranking of the N patch scores:

* ``'stride'`` (paper, official code): sort, keep the first of every S ranks,
  so visible tokens span the whole score range evenly;
* ``'top'``: keep the N / S first ranks (with ``descending=True`` the
  highest-scoring patches).

Both keep exactly N / S tokens per image so that a batch stacks, and sort
stably so that the mask is a deterministic function of the image.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

SCORERS = ('intensity', 'entropy', 'random', 'linear')
SELECTIONS = ('stride', 'top')


class IAMMask(NamedTuple):
    """Masks of a batch, 1 = masked.

    Attributes:
        ids_keep (torch.Tensor): (B, N_vis) token ids of the visible tokens, in
            the order the encoder processes them (score rank order).
        ids_restore (torch.Tensor): (B, N) position of each raster-order token
            in ``cat([visible, masked])``; ``gather`` with it un-shuffles.
        mask (torch.Tensor): (B, N) float token mask in raster order.
        stage_masks (tuple[torch.Tensor], optional): Token mask upsampled to
            finer stages, one (B, 1, h * f, w * f) float tensor per factor f.
    """
    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor
    stage_masks: Optional[Tuple[torch.Tensor, ...]] = None


def check_token_grid(height: int, width: int, patch_size: int,
                     stride: Optional[int] = None) -> Tuple[int, int]:
    """Validate an input size for masking and return its token grid.

    Raises:
        ValueError: If a side is not a multiple of ``patch_size`` or the
            masking stride does not divide the token count.
    """
    if height % patch_size or width % patch_size:
        raise ValueError(
            f'InfMAE needs image sides that are multiples of {patch_size}, got '
            f'{height}x{width}. Resize or crop to e.g. '
            f'{max(patch_size, height // patch_size * patch_size)}x'
            f'{max(patch_size, width // patch_size * patch_size)} in the data '
            f'pipeline (RandomResizedCrop/Resize with scale a multiple of '
            f'{patch_size}).')
    grid = (height // patch_size, width // patch_size)
    num_tokens = grid[0] * grid[1]
    if stride is not None and num_tokens % stride:
        raise ValueError(
            f'The masking stride {stride} does not divide the {num_tokens} '
            f'tokens of a {height}x{width} image ({grid[0]}x{grid[1]} '
            f'patches), so images would keep different numbers of visible '
            f'tokens. Choose a stride that divides {num_tokens} or an image '
            f'size whose token count the stride divides.')
    return grid


def patch_scores(images: torch.Tensor,
                 scorer: str,
                 patch_size: int = 16,
                 weight: Optional[torch.Tensor] = None,
                 bias: Optional[torch.Tensor] = None,
                 value_range: Optional[Tuple[float, float]] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Score every non-overlapping patch of a batch of images.

    Args:
        images (torch.Tensor): (B, C, H, W) float images.
        scorer (str): ``'intensity'`` (mean gray value of the patch),
            ``'entropy'`` (Shannon entropy in bits of the patch's 256-level
            gray histogram), ``'random'`` (uniform noise, the MAE baseline) or
            ``'linear'`` (the official scorer: the channel mean of a
            Conv(C -> D, k = s = patch) embedding, i.e. one linear filter).
        patch_size (int): Patch side. Defaults to 16.
        weight (torch.Tensor, optional): (D, C, p, p) conv weight, ``linear``.
        bias (torch.Tensor, optional): (D, ) conv bias, ``linear``.
        value_range (tuple[float, float], optional): Range quantised into the
            256 levels for ``entropy``; None uses each image's min and max.
        generator (torch.Generator, optional): RNG for ``random``.

    Returns:
        torch.Tensor: (B, N) scores in raster order, N = H * W / patch**2.
    """
    B, _, H, W = images.shape
    if scorer == 'intensity':
        return F.avg_pool2d(images.mean(1, keepdim=True), patch_size).flatten(1)
    if scorer == 'random':
        num_tokens = (H // patch_size) * (W // patch_size)
        return torch.rand(
            B, num_tokens, generator=generator, device=images.device)
    if scorer == 'linear':
        if weight is None:
            raise ValueError('The linear scorer needs the conv weight.')
        return F.conv2d(images, weight, bias, stride=patch_size).mean(1)\
            .flatten(1)
    if scorer == 'entropy':
        return _patch_entropy(images.mean(1), patch_size, value_range)
    raise ValueError(f'Unknown IAM scorer {scorer!r}; choose from {SCORERS}.')


def _patch_entropy(gray: torch.Tensor, patch_size: int,
                   value_range: Optional[Tuple[float, float]]) -> torch.Tensor:
    """Per-patch entropy of a (B, H, W) gray batch on 256 levels."""
    B, H, W = gray.shape
    gray = gray.float()
    if value_range is None:
        lo = gray.flatten(1).min(1).values.view(B, 1, 1)
        hi = gray.flatten(1).max(1).values.view(B, 1, 1)
    else:
        lo, hi = (torch.tensor(v, dtype=gray.dtype) for v in value_range)
    scale = 256. / (hi - lo).clamp_min(1e-12)
    levels = ((gray - lo) * scale).floor().clamp(0, 255).long()
    h, w = H // patch_size, W // patch_size
    # (B, h, p, w, p) -> (B, h * w, p * p)
    levels = levels.view(B, h, patch_size, w, patch_size).permute(0, 1, 3, 2, 4)
    levels = levels.reshape(B, h * w, patch_size * patch_size)
    counts = torch.zeros(B, h * w, 256, device=gray.device)
    counts.scatter_add_(2, levels, torch.ones_like(levels, dtype=torch.float))
    prob = counts / (patch_size * patch_size)
    return -(prob * torch.log2(prob.clamp_min(1e-12))).sum(-1)


def select_tokens(scores: torch.Tensor,
                  stride: int = 4,
                  selection: str = 'stride',
                  descending: bool = False) -> IAMMask:
    """Choose N / S visible tokens per image from its patch scores.

    Args:
        scores (torch.Tensor): (B, N) patch scores.
        stride (int): Sampling stride S; S = 4 keeps 25%. Must divide N.
        selection (str): ``'stride'`` or ``'top'`` (see the module doc).
        descending (bool): Rank the highest score first. The official code
            ranks ascending. Defaults to False.

    Returns:
        IAMMask: ids and token mask (without stage masks).
    """
    if selection not in SELECTIONS:
        raise ValueError(f'Unknown IAM selection {selection!r}; choose from '
                         f'{SELECTIONS}.')
    if stride < 1:
        raise ValueError(f'The masking stride must be >= 1, got {stride}.')
    B, N = scores.shape
    if N % stride:
        raise ValueError(
            f'The masking stride {stride} does not divide the {N} tokens of '
            f'the image; choose a stride that divides {N}.')
    order = torch.sort(scores, dim=1, descending=descending, stable=True)[1]
    if selection == 'stride':
        kept_rank = torch.zeros(N, dtype=torch.bool, device=scores.device)
        kept_rank[::stride] = True
        ids_keep, ids_masked = order[:, kept_rank], order[:, ~kept_rank]
    else:
        ids_keep, ids_masked = order[:, :N // stride], order[:, N // stride:]
    ids_restore = torch.argsort(torch.cat([ids_keep, ids_masked], dim=1), dim=1)
    mask = torch.ones(B, N, device=scores.device)
    mask.scatter_(1, ids_keep, 0.)
    return IAMMask(ids_keep, ids_restore, mask)


def upsample_token_mask(mask: torch.Tensor, grid_size: Tuple[int, int],
                        factor: int) -> torch.Tensor:
    """Nearest-upsample a (B, N) raster token mask to (B, 1, h*f, w*f)."""
    B = mask.shape[0]
    grid = mask.reshape(B, 1, grid_size[0], grid_size[1])
    return grid.repeat_interleave(factor, 2).repeat_interleave(factor, 3)


def with_stage_masks(iam: IAMMask, grid_size: Tuple[int, int],
                     factors: Sequence[int]) -> IAMMask:
    """Return ``iam`` with its token mask upsampled by each of ``factors``."""
    stage_masks = tuple(
        upsample_token_mask(iam.mask, grid_size, f) for f in factors)
    return iam._replace(stage_masks=stage_masks)


class IAMMasking(nn.Module):
    """In-model IAM: scores a normalised batch and selects visible tokens.

    Needed for the official ``linear`` scorer, whose random, never-trained
    Conv(C -> 768, k16 s16) is stored in the official checkpoint; masks
    computed with those weights reproduce the official masks exactly. The
    other scorers work too (entropy then quantises each image's own range).

    Args:
        scorer (str): One of ``SCORERS``. Defaults to 'linear'.
        stride (int): Sampling stride S. Defaults to 4.
        selection (str): ``'stride'`` or ``'top'``. Defaults to 'stride'.
        descending (bool): Rank high scores first. Defaults to False (the
            official order).
        in_channels (int): Image channels, for the linear scorer. Defaults 3.
        patch_size (int): Token patch size. Defaults to 16.
        scorer_dims (int): Output channels of the linear scorer's conv.
            Defaults to 768 (official).
    """

    def __init__(self,
                 scorer: str = 'linear',
                 stride: int = 4,
                 selection: str = 'stride',
                 descending: bool = False,
                 in_channels: int = 3,
                 patch_size: int = 16,
                 scorer_dims: int = 768) -> None:
        super().__init__()
        if scorer not in SCORERS:
            raise ValueError(
                f'Unknown IAM scorer {scorer!r}; choose from {SCORERS}.')
        if selection not in SELECTIONS:
            raise ValueError(f'Unknown IAM selection {selection!r}; choose '
                             f'from {SELECTIONS}.')
        self.scorer = scorer
        self.stride = stride
        self.selection = selection
        self.descending = descending
        self.patch_size = patch_size
        if scorer == 'linear':
            # Buffers, not parameters: the official scorer receives no
            # gradient (argsort), so it is data, never trained.
            conv = nn.Conv2d(in_channels, scorer_dims, patch_size, patch_size)
            self.register_buffer('weight', conv.weight.detach().clone())
            self.register_buffer('bias', conv.bias.detach().clone())
        else:
            self.weight = self.bias = None

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> IAMMask:
        """Compute the token mask of (B, C, H, W) normalised images."""
        scores = patch_scores(
            images.float(),
            self.scorer,
            self.patch_size,
            weight=None if self.weight is None else self.weight.float(),
            bias=None if self.bias is None else self.bias.float())
        return select_tokens(scores, self.stride, self.selection,
                             self.descending)

    def extra_repr(self) -> str:
        return (f'scorer={self.scorer}, stride={self.stride}, '
                f'selection={self.selection}, descending={self.descending}')
