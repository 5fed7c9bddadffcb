"""SourceWeightedSampler: pre-training on a mixture of sources with shares."""
import math
from typing import Iterator, List, Optional, Sequence

import torch
from mmengine.dataset import ConcatDataset
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from infmae_mm.registry import register_in_hosts


def apportion(total: int, weights: Sequence[float]) -> List[int]:
    """Split ``total`` into integer parts proportional to ``weights``.

    Largest-remainder rounding: the parts sum to ``total`` exactly and each
    is within one of ``total * w / sum(weights)`` (ties go to the earlier
    source).

    Args:
        total (int): The number to split.
        weights (Sequence[float]): Non-negative weights, not all zero.

    Returns:
        list[int]: One part per weight.
    """
    norm = float(sum(weights))
    exact = [total * w / norm for w in weights]
    parts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[:total - sum(parts)]:
        parts[i] += 1
    return parts


@register_in_hosts('DATA_SAMPLERS')
class SourceWeightedSampler(Sampler):
    """Draw every epoch from the sources of a ``ConcatDataset`` in fixed
    shares, as InfMix-style pre-training sets mix infrared and visible data.

    Each epoch has ``num_samples`` samples (default: the total number of
    images); source ``k`` contributes ``num_samples * w_k / sum(w)`` of them
    (rounded so that the parts add up). Within a source the images are taken
    in a new random order every epoch, cycling through all of them before
    any repeats, so a small source is repeated and a large one subsampled
    (a different subset each epoch). The epoch's samples are then shuffled
    and split over the ranks like mmengine's ``DefaultSampler``
    (``round_up``), so the run is deterministic for a given seed.

    .. code-block:: python

        train_dataloader = dict(
            sampler=dict(type='SourceWeightedSampler', weights=[3, 1]),
            dataset=dict(type='ConcatDataset', datasets=[ir, visible]))

    Args:
        dataset (ConcatDataset): The sources, in order.
        weights (Sequence[float]): One non-negative weight per source
            (``train_dataloader.sampler.weights``).
        num_samples (int, optional): Samples per epoch over all ranks.
            Defaults to ``len(dataset)``.
        seed (int, optional): Random seed, the same on every rank; None
            draws one and synchronises it.
    """

    def __init__(self,
                 dataset: ConcatDataset,
                 weights: Sequence[float],
                 num_samples: Optional[int] = None,
                 seed: Optional[int] = None) -> None:
        if not isinstance(dataset, ConcatDataset):
            raise TypeError(
                'SourceWeightedSampler needs a ConcatDataset of the sources '
                "(train_dataloader.dataset=dict(type='ConcatDataset', "
                f'datasets=[...])), got {type(dataset).__name__}.')
        sizes = [len(d) for d in dataset.datasets]
        weights = [float(w) for w in weights]
        if len(weights) != len(sizes):
            raise ValueError(
                f'train_dataloader.sampler.weights has {len(weights)} '
                f'values for {len(sizes)} sources; give one per dataset of '
                'the ConcatDataset.')
        if any(w < 0 or not math.isfinite(w) for w in weights) or \
                not sum(weights) > 0:
            raise ValueError('train_dataloader.sampler.weights must be '
                             f'non-negative and not all 0, got {weights}.')
        empty = [
            i for i, (n, w) in enumerate(zip(sizes, weights))
            if n == 0 and w > 0
        ]
        if empty:
            raise ValueError(f'Source(s) {empty} of the ConcatDataset have '
                             'no image but a positive weight.')
        self.dataset = dataset
        self.sizes = sizes
        self.offsets = [0] + list(dataset.cumulative_sizes[:-1])
        self.weights = weights
        self.total = int(len(dataset) if num_samples is None else num_samples)
        if self.total < 1:
            raise ValueError('train_dataloader.sampler.num_samples must be '
                             f'>= 1, got {self.total}.')
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        self.num_samples = math.ceil(self.total / self.world_size)

    @property
    def shares(self) -> List[int]:
        """Samples per source in one epoch (over all ranks)."""
        return apportion(self.total, self.weights)

    def _source_indices(self, k: int, count: int,
                        generator: torch.Generator) -> List[int]:
        picks: List[int] = []
        while len(picks) < count:
            order = torch.randperm(self.sizes[k], generator=generator)
            picks += order[:count - len(picks)].tolist()
        return [self.offsets[k] + i for i in picks]

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        indices: List[int] = []
        for k, count in enumerate(self.shares):
            indices += self._source_indices(k, count, generator)
        order = torch.randperm(len(indices), generator=generator).tolist()
        indices = [indices[i] for i in order]
        size = self.num_samples * self.world_size
        indices = (indices * (size // len(indices) + 1))[:size]
        return iter(indices[self.rank:size:self.world_size])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Draw another epoch (called by the training loop)."""
        self.epoch = epoch
