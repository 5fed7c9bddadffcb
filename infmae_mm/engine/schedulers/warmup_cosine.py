"""Linear warm-up then cosine decay, sized as fractions of the whole run."""
import math
from typing import Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.param_scheduler import INF
from torch.optim import Optimizer

from infmae_mm.registry import register_in_hosts
from .warmup_decay import WarmupDecayLR


@register_in_hosts('PARAM_SCHEDULERS')
class WarmupCosineLR(WarmupDecayLR):
    """Linear warm-up over a fraction of the run, then cosine to the end.

    The schedule follows ``train_cfg.max_epochs`` (or ``max_iters``): leave
    ``end`` out of the config and the runner sets it to the length of the
    training, so ``--cfg-options train_cfg.max_epochs=18`` shortens warm-up
    and cosine together. With T steps from ``begin`` to ``end`` and
    W = round(``warmup_fraction`` x T) warm-up steps, step t gets

    * t < W: ``lr x (s + (1 - s) t / (W - 1))``, s = ``warmup_start_factor``
      (mmengine's ``LinearLR``: the full lr at the last warm-up step);
    * t >= W: ``eta_min + (lr - eta_min) (1 + cos(pi (t - W) / (T - W))) / 2``
      (``CosineAnnealingLR`` from W to the end).

    For the paper (400 epochs, 40 warm-up) this is exactly the former pair
    ``LinearLR(end=40)`` + ``CosineAnnealingLR(begin=40, T_max=360)``. With
    ``decay_begins='at_begin'`` the cosine runs from ``begin`` (``(1 +
    cos(pi t / T)) / 2``) and the warm-up factor multiplies it: a
    ``LinearLR`` overlapping a ``CosineAnnealingLR(begin=0, T_max=T)``.

    Args:
        optimizer (Optimizer | BaseOptimWrapper): The optimizer.
        warmup_fraction (float): Share of the run spent warming up, in
            [0, 1). Defaults to 0.1 (the paper's 40 of 400 epochs).
        warmup_start_factor (float): lr factor at the first step.
            Defaults to 1e-4.
        eta_min (float): Final lr. Defaults to 0.
        decay_begins (str): ``'after_warmup'`` or ``'at_begin'``.
            Defaults to 'after_warmup'.
        begin (int): First step (epoch, or iteration when converted).
        end (int): End step; the runner sets the run's length when unset.
        last_step (int): For resuming without a state dict. Defaults to -1.
        by_epoch (bool): Steps are epochs (convert with
            ``convert_to_iter_based=True`` to update every iteration).
        verbose (bool): Print every update. Defaults to False.
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 warmup_fraction: float = 0.1,
                 warmup_start_factor: float = 1e-4,
                 eta_min: float = 0.,
                 decay_begins: str = 'after_warmup',
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        super().__init__(
            optimizer,
            warmup_fraction=warmup_fraction,
            warmup_start_factor=warmup_start_factor,
            eta_min=eta_min,
            decay_begins=decay_begins,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def decay_at(self, step: int, steps: int) -> float:
        """``(1 + cos(pi step / steps)) / 2``: 0 one step after the end."""
        return (1 + math.cos(math.pi * step / max(steps, 1))) / 2
