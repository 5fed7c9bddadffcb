"""Linear warm-up then cosine decay, sized as fractions of the whole run."""
import math
from typing import List, Optional, Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from torch.optim import Optimizer

from infmae_mm.registry import register_in_hosts


@register_in_hosts('PARAM_SCHEDULERS')
class WarmupCosineLR(LRSchedulerMixin, _ParamScheduler):
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
    ``LinearLR(end=40)`` + ``CosineAnnealingLR(begin=40, T_max=360)``.

    Args:
        optimizer (Optimizer | BaseOptimWrapper): The optimizer.
        warmup_fraction (float): Share of the run spent warming up, in
            [0, 1). Defaults to 0.1 (the paper's 40 of 400 epochs).
        warmup_start_factor (float): lr factor at the first step.
            Defaults to 1e-4.
        eta_min (float): Final lr. Defaults to 0.
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
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if end == INF:
            raise ValueError(
                'WarmupCosineLR needs the length of the run: leave `end` out '
                'of the param_scheduler config and build it through the '
                'runner (which sets it to train_cfg.max_epochs), or set '
                '`end` explicitly.')
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f'warmup_fraction must be in [0, 1), got '
                             f'{warmup_fraction}.')
        if not 0 < warmup_start_factor <= 1:
            raise ValueError(f'warmup_start_factor must be in (0, 1], got '
                             f'{warmup_start_factor}.')
        self.warmup_fraction = warmup_fraction
        self.warmup_start_factor = warmup_start_factor
        self.eta_min = eta_min
        self.total_steps = end - begin
        self.warmup_steps = int(round(warmup_fraction * self.total_steps))
        super().__init__(
            optimizer,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              begin: int = 0,
                              end: int = INF,
                              by_epoch: bool = True,
                              epoch_length: Optional[int] = None,
                              **kwargs) -> 'WarmupCosineLR':
        """Build an iteration-based schedule from epoch-based settings."""
        if not by_epoch:
            raise ValueError('Only an epoch-based WarmupCosineLR '
                             '(by_epoch=True) can be converted to '
                             'iterations.')
        if not epoch_length or epoch_length < 1:
            raise ValueError(f'epoch_length must be a positive int, got '
                             f'{epoch_length}.')
        begin = int(begin * epoch_length)
        if end != INF:
            end = int(end * epoch_length)
        return cls(*args, begin=begin, end=end, by_epoch=False, **kwargs)

    def factor_at(self, step: int) -> float:
        """The lr factor (of the base lr, ignoring ``eta_min``) at ``step``
        steps after ``begin``; see the class doc."""
        w = self.warmup_steps
        if step < w:
            s = self.warmup_start_factor
            return s + (1 - s) * step / max(w - 1, 1)
        return (1 + math.cos(math.pi *
                             (step - w) / max(self.total_steps - w, 1))) / 2

    def _get_value(self) -> List[float]:
        step = self.last_step
        factor = self.factor_at(step)
        if step < self.warmup_steps:
            return [base * factor for base in self.base_values]
        return [
            self.eta_min + (base - self.eta_min) * factor
            for base in self.base_values
        ]
