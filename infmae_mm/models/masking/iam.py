"""Information-aware masking (IAM): visible-token selection and the masks.

This file holds the one selection code of IAM; the patch scorers are in
:mod:`.scorers`. The ``IAMMaskGenerator`` data transform calls both per image
on raw pixels; ``IAMMasking`` calls them per batch inside the model (needed by
the official linear scorer, whose weights live in the checkpoint).

Selection works on the ranking of the N patch scores:

* ``'stride'`` (paper, official code): sort, keep the first of every S ranks
  (ranks 0, S, 2S, ...), so the visible tokens span the whole score range
  evenly: with intensity scores every brightness level keeps about 1 / S of
  its patches visible, the hottest ones included, as random masking does;
* ``'top'``: keep the first ranks (with ``descending=True`` the
  highest-scoring, e.g. the hottest, patches) and mask all others.

Both keep ``ceil(N / S)`` tokens (:func:`num_visible`), which depends only on
the image size, so a batch of equally sized images stacks whatever N is: 49 of
196 (25%) at 224x224 with S = 4, 157 of 627 at 304x528. Both sort stably so
that the mask is a deterministic function of the image.
"""
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from .scorers import get_scorer, patch_scores

SELECTIONS = ('stride', 'top')

#: The one data-sample field through which the pipeline hands an image's
#: masks to the model: ``IAMMaskGenerator`` writes it, ``PackInputs(
#: algorithm_keys=[IAM_MASK_KEY])`` carries it and ``InfMAE`` reads it.
IAM_MASK_KEY = 'iam_mask'


class IAMMask(NamedTuple):
    """Token masks, 1 = masked.

    For a batch the fields are tensors with a leading batch dimension B; the
    pipeline stores one image's masks (``results[IAM_MASK_KEY]``) as numpy
    arrays without it, and :func:`collate_masks` stacks those.

    Attributes:
        ids_keep (torch.Tensor): (B, N_vis) int64 token ids of the visible
            tokens, in the order the encoder processes them (score rank
            order).
        ids_restore (torch.Tensor): (B, N) int64 position of each
            raster-order token in ``cat([visible, masked])``; ``gather`` with
            it un-shuffles.
        mask (torch.Tensor): (B, N) float token mask in raster order.
        ids_shuffle (torch.Tensor, optional): (B, N) int64 the visible ids
            then the masked ones, the permutation ``ids_restore`` inverts:
            ``ids_shuffle[:, N_vis:]`` are the masked tokens in the order of
            the masked slots of ``cat([visible, masked])``. Carried from
            where the masks are made so that no consumer rebuilds it
            (:func:`shuffle_ids`); None in masks made without it.
    """
    ids_keep: Union[torch.Tensor, np.ndarray]
    ids_restore: Union[torch.Tensor, np.ndarray]
    mask: Union[torch.Tensor, np.ndarray]
    ids_shuffle: Optional[Union[torch.Tensor, np.ndarray]] = None


def inverse_permutation(ids: torch.Tensor) -> torch.Tensor:
    """The inverse of each row of a (B, N) batch of permutations (one
    scatter: ``out[b, ids[b, i]] = i``), e.g. ``ids_restore`` from
    ``ids_shuffle`` and back."""
    positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
    return torch.empty_like(ids).scatter_(1, ids, positions)


def shuffle_ids(
        masks: Union[IAMMask,
                     torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(ids_restore, ids_shuffle)`` of the masks a decoder or bridge is
    given: an :class:`IAMMask` carries both; a bare (B, N) ``ids_restore``
    (mmpretrain's MAE, the placement of a DDG bridge) is inverted."""
    if isinstance(masks, IAMMask):
        if masks.ids_shuffle is not None:
            return masks.ids_restore, masks.ids_shuffle
        masks = masks.ids_restore
    return masks, inverse_permutation(masks)


def collate_masks(masks: Sequence[IAMMask],
                  device: Union[str, torch.device] = 'cpu') -> IAMMask:
    """Stack per-image masks (numpy or tensors) into a batch on ``device``.

    Raises:
        ValueError: If the images keep different numbers of tokens.
    """
    # A list compared to its first entry, not a set (TorchDynamo compiles
    # no sets of tuples in torch 2.1: a graph break in InfMAE.loss).
    sizes = [(len(m.ids_keep), len(m.ids_restore)) for m in masks]
    if not sizes or any(size != sizes[0] for size in sizes):
        raise ValueError(
            f'The masks of one batch must have the same (visible, total) '
            f'token counts, got {sorted(set(sizes))}: every image of a batch '
            f'must have the same size when IAMMaskGenerator runs.')

    def stack(values: List, dtype: torch.dtype) -> torch.Tensor:
        return torch.stack([torch.as_tensor(v) for v in values]).to(
            device=device, dtype=dtype)

    shuffles = [m.ids_shuffle for m in masks]
    return IAMMask(
        stack([m.ids_keep for m in masks], torch.long),
        stack([m.ids_restore for m in masks], torch.long),
        stack([m.mask.reshape(-1) for m in masks], torch.float32),
        None if any(s is None
                    for s in shuffles) else stack(shuffles, torch.long))


def num_visible(num_tokens: int, stride: int) -> int:
    """Visible tokens kept of ``num_tokens`` with sampling stride S:

    ``ceil(N / S)`` (ranks 0, S, 2S, ... < N).
    """
    return math.ceil(num_tokens / stride)


def masked_fraction(stride: int) -> float:
    """Fraction ``1 - 1 / S`` of the tokens that stride S masks (for large N;
    exactly ``1 - ceil(N / S) / N``)."""
    return 1. - 1. / stride


def check_masking_stride(stride: object, key: str = 'stride') -> int:
    """Refuse a masking stride that cannot train: not an int, or S < 2.

    S = 1 keeps every token visible: no patch is masked, and the
    reconstruction loss, a mean over the masked patches, is 0 / 0 = NaN at
    every iteration.

    Args:
        stride: The configured stride.
        key (str): Where the user sets it, for the message (e.g.
            ``'model.mask_generator.stride'``).

    Returns:
        int: ``stride``.

    Raises:
        ValueError: Naming ``key``, the value and the values that work.
    """
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(
            f'{key} must be an int >= 2 (ceil(N / S) of the N tokens stay '
            f'visible; 4 masks 75%), got {stride!r}.')
    if stride == 1:
        raise ValueError(
            f'IAM masking stride=1 ({key}) masks nothing: every token stays '
            f'visible, so the reconstruction loss (a mean over the masked '
            f'patches) is 0 / 0 = NaN. Set it to 2 or more; the masked '
            f'fraction is 1 - 1/S (2: 50%, 4: 75%, the paper\'s setting; '
            f'7: 86%).')
    return stride


def refuse_mask_ratio(mask_ratio: Optional[float],
                      key: str,
                      given_at: str = 'mask_ratio') -> None:
    """Refuse MAE's ``mask_ratio``, which IAM does not have, naming the stride
    that gives that ratio.

    Args:
        mask_ratio (float, optional): What the user wrote; None passes.
        key (str): Where the stride is set instead (e.g.
            ``'model.mask_generator.stride'``).
        given_at (str): Where the user wrote ``mask_ratio`` (e.g.
            ``'model.backbone.mask_ratio'``).

    Raises:
        ValueError: If ``mask_ratio`` is given.
    """
    if mask_ratio is None:
        return
    advice = f'set {key} (about 1 - 1/S is masked; 4 masks 75%)'
    if isinstance(mask_ratio, (int, float)) and 0 < mask_ratio < 1:
        stride = max(2, round(1 / (1 - mask_ratio)))
        advice = (f'set {key} to {stride} (masks '
                  f'{masked_fraction(stride):.0%})')
    raise ValueError(
        f'mask_ratio={mask_ratio!r} ({given_at}): InfMAE\'s '
        f'information-aware masking has no mask ratio; its sampling stride '
        f'S sets it (ceil(N / S) of the N tokens stay visible). Remove '
        f'mask_ratio and {advice}.')


def setting_key(where: str, name: str) -> str:
    """How an error names setting ``name`` of a masking configured at
    ``where``: ``'model.mask_generator.stride'`` for a config path, ``"the
    stride of dict(type='IAMMaskGenerator') in ..."`` for a description."""
    return f'the {name} of {where}' if ' ' in where else f'{where}.{name}'


def check_token_grid(height: int, width: int,
                     patch_size: int) -> Tuple[int, int]:
    """Validate an input size for masking and return its token grid.

    Raises:
        ValueError: If a side is not a multiple of ``patch_size``.
    """
    if height % patch_size or width % patch_size:
        raise ValueError(
            f'InfMAE needs image sides that are multiples of {patch_size}, '
            f'got {height}x{width}. Resize or crop to e.g. '
            f'{max(patch_size, height // patch_size * patch_size)}x'
            f'{max(patch_size, width // patch_size * patch_size)} in the data '
            f'pipeline (RandomResizedCrop/Resize with scale a multiple of '
            f'{patch_size}).')
    return height // patch_size, width // patch_size


def select_tokens(scores: torch.Tensor,
                  stride: int = 4,
                  selection: str = 'stride',
                  descending: bool = False) -> IAMMask:
    """Choose ``ceil(N / S)`` visible tokens per image from patch scores.

    Args:
        scores (torch.Tensor): (B, N) patch scores.
        stride (int): Sampling stride S; ``ceil(N / S)`` tokens stay visible
            (S = 4 at 224x224: 49 of 196, 25%).
        selection (str): ``'stride'`` or ``'top'`` (see the module doc).
        descending (bool): Rank the highest score first. The official code
            ranks ascending. Defaults to False.

    Returns:
        IAMMask: ids and token mask of the batch.
    """
    if selection not in SELECTIONS:
        raise ValueError(f'Unknown IAM selection {selection!r}; choose from '
                         f'{SELECTIONS}.')
    if stride < 1:
        raise ValueError(f'The masking stride must be >= 1, got {stride}.')
    B, N = scores.shape
    order = torch.sort(scores, dim=1, descending=descending, stable=True)[1]
    if selection == 'stride':
        # Ranks 0, S, 2S, ... first, then the others, each in rank order: a
        # stable sort of the ranks by "not kept" (a permutation of static
        # shape; boolean indexing would be data-dependent for torch.compile).
        not_kept = torch.arange(N, device=scores.device) % stride != 0
        ranks = torch.sort(not_kept.int(), stable=True)[1]
        order = order[:, ranks]
    return masks_from_order(order, num_visible(N, stride))


def masks_from_order(order: torch.Tensor, num_keep: int) -> IAMMask:
    """Masks that keep the first ``num_keep`` tokens of each row of ``order``.

    Args:
        order (torch.Tensor): (B, N) token ids, a permutation per row: the
            visible tokens first (in the order the encoder takes them), then
            the masked ones.
        num_keep (int): Visible tokens per image.

    Returns:
        IAMMask: (B, num_keep) ids, (B, N) restore ids, (B, N) mask and
        ``order`` as the shuffle ids.
    """
    B, N = order.shape
    ids_keep = order[:, :num_keep]
    mask = torch.ones(B, N, device=order.device)
    mask.scatter_(1, ids_keep, 0.)
    return IAMMask(ids_keep, inverse_permutation(order), mask, order)


def seeded_random_masks(num_tokens: int,
                        num_keep: int,
                        seeds: Sequence[int],
                        device: Union[str, torch.device] = 'cpu') -> IAMMask:
    """Random masks that depend only on a seed per image (e.g. evaluation masks
    that stay the same across checkpoints and runs).

    Args:
        num_tokens (int): Tokens N per image.
        num_keep (int): Visible tokens per image.
        seeds (Sequence[int]): One seed per image.
        device (str | torch.device): Where the masks go.

    Returns:
        IAMMask: masks of ``len(seeds)`` images.
    """
    orders = [
        torch.randperm(
            num_tokens, generator=torch.Generator().manual_seed(int(seed)))
        for seed in seeds
    ]
    return masks_from_order(torch.stack(orders).to(device), num_keep)


def upsample_token_mask(mask: torch.Tensor, grid_size: Tuple[int, int],
                        factor: int) -> torch.Tensor:
    """Nearest-upsample a (B, N) raster token mask to (B, 1, h*f, w*f)."""
    B = mask.shape[0]
    grid = mask.reshape(B, 1, grid_size[0], grid_size[1])
    return grid.repeat_interleave(factor, 2).repeat_interleave(factor, 3)


class IAMMasking(nn.Module):
    """In-model IAM: scores a normalised batch and selects visible tokens.

    Needed for the official ``linear`` scorer (and any scorer registered with
    ``needs_weights=True``), whose random, never-trained Conv(C -> 768,
    k16 s16) is stored in the official checkpoint; masks computed with those
    weights reproduce the official masks exactly. The other scorers work too
    (entropy then quantises each image's own range).

    Args:
        scorer (str): A registered scorer (``PATCH_SCORERS``). Defaults to
            'linear'.
        stride (int): Sampling stride S. Defaults to 4.
        selection (str): ``'stride'`` or ``'top'``. Defaults to 'stride'.
        descending (bool): Rank high scores first. Defaults to False (the
            official order).
        in_channels (int): Image channels, for the linear scorer. Defaults 3.
        patch_size (int): Token patch size. Defaults to 16.
        scorer_dims (int): Output channels of the linear scorer's conv.
            Defaults to 768 (official).
        mask_ratio (float, optional): Not an IAM setting: MAE's
            ``mask_ratio`` is refused with an error that names the stride
            giving that ratio. Defaults to None.
        config_key (str): Where this masking is configured, for error
            messages: a config path (``'model.mask_generator'`` inside
            InfMAE) or a description containing a space (see
            :func:`setting_key`).
            Defaults to 'model.mask_generator'.
    """

    def __init__(self,
                 scorer: str = 'linear',
                 stride: int = 4,
                 selection: str = 'stride',
                 descending: bool = False,
                 in_channels: int = 3,
                 patch_size: int = 16,
                 scorer_dims: int = 768,
                 mask_ratio: Optional[float] = None,
                 config_key: str = 'model.mask_generator') -> None:
        super().__init__()
        refuse_mask_ratio(mask_ratio, setting_key(config_key, 'stride'),
                          setting_key(config_key, 'mask_ratio'))
        spec = get_scorer(scorer)
        check_masking_stride(stride, setting_key(config_key, 'stride'))
        if selection not in SELECTIONS:
            raise ValueError(f'Unknown IAM selection {selection!r} '
                             f'({setting_key(config_key, "selection")}); '
                             f'choose from {SELECTIONS}.')
        self.config_key = config_key
        self.scorer = scorer
        self.stride = stride
        self.selection = selection
        self.descending = descending
        self.patch_size = patch_size
        if spec.needs_weights:
            # Buffers, not parameters: the official scorer receives no
            # gradient (argsort), so it is data, never trained.
            conv = nn.Conv2d(in_channels, scorer_dims, patch_size, patch_size)
            self.register_buffer('weight', conv.weight.detach().clone())
            self.register_buffer('bias', conv.bias.detach().clone())
        else:
            self.weight = self.bias = None

    @torch.no_grad()
    def forward(self,
                images: torch.Tensor,
                generator: Optional[torch.Generator] = None,
                value_range: Optional[Tuple[float, float]] = None) -> IAMMask:
        """Compute the token masks of (B, C, H, W) images.

        Args:
            images (torch.Tensor): (B, C, H, W), H and W multiples of the
                patch size.
            generator (torch.Generator, optional): Seeds the ``'random'``
                scorer (e.g. fixed evaluation masks).
            value_range (tuple[float, float], optional): Gray range that the
                ``'entropy'`` scorer quantises; None: each image's min-max.

        Returns:
            IAMMask: (B, N_vis) ids, (B, N) restore ids and (B, N) mask.
        """
        grid = check_token_grid(images.shape[2], images.shape[3],
                                self.patch_size)
        num_tokens = grid[0] * grid[1]
        if num_visible(num_tokens, self.stride) >= num_tokens:
            raise ValueError(
                f'An input of {images.shape[2]}x{images.shape[3]} has '
                f'{num_tokens} token(s) of {self.patch_size}x'
                f'{self.patch_size}; {setting_key(self.config_key, "stride")}='
                f'{self.stride} keeps all of them visible, so nothing is '
                f'masked and the reconstruction loss is NaN. Use inputs of '
                f'at least 2 tokens (crop or resize size in the data '
                f'pipeline).')
        scores = patch_scores(
            images.float(),
            self.scorer,
            self.patch_size,
            weight=None if self.weight is None else self.weight.float(),
            bias=None if self.bias is None else self.bias.float(),
            value_range=value_range,
            generator=generator)
        return select_tokens(scores, self.stride, self.selection,
                             self.descending)

    def extra_repr(self) -> str:
        return (f'scorer={self.scorer}, stride={self.stride}, '
                f'selection={self.selection}, descending={self.descending}')
