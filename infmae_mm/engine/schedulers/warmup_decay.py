"""Linear warm-up then a decay, both sized by the length of the run."""
from typing import List, Optional, Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from torch.optim import Optimizer

#: Where the decay starts: after the warm-up (mmengine's ``LinearLR`` then a
#: decay scheduler beginning where it ends), or at ``begin``, multiplied by
#: the warm-up factor while it lasts (mmcv 1.x's ``warmup=`` of a policy,
#: the official UNIP runs; two overlapping mmengine schedulers).
DECAY_BEGINS = ('after_warmup', 'at_begin')


class WarmupDecayLR(LRSchedulerMixin, _ParamScheduler):
    """Base of the lr schedules that follow ``max_iters`` / ``max_epochs``.

    Leave ``end`` out of the config: the runner sets it to
    ``train_cfg.max_iters`` (``by_epoch=False``) or ``max_epochs``, so a
    ``--cfg-options train_cfg.max_iters=N`` override moves the end of the
    warm-up and of the decay together. With T steps from ``begin`` to
    ``end`` and W = round(``warmup_fraction`` x T) warm-up steps, the
    warm-up factor is mmengine's ``LinearLR``'s, ``w(t) = s + (1 - s) t /
    (W - 1)`` for t < W (s = ``warmup_start_factor``; the full lr at step W
    - 1), and the decay factor ``d(k, n)`` (k steps into a decay of n) is
    the subclass's. Step t gets

    * ``decay_begins='after_warmup'``: ``lr w(t)`` for t < W, then
      ``eta_min + (lr - eta_min) d(t - W, T - W)``;
    * ``decay_begins='at_begin'``: ``(eta_min + (lr - eta_min) d(t, T))
      w(min(t, W - 1))``.

    Args:
        optimizer (Optimizer | BaseOptimWrapper): The optimizer.
        warmup_fraction (float): Share of the run spent warming up, in
            [0, 1).
        warmup_start_factor (float): lr factor at the first step, in (0, 1].
        eta_min (float): Final lr. Defaults to 0.
        decay_begins (str): ``'after_warmup'`` or ``'at_begin'``, see above.
            Defaults to 'after_warmup'.
        begin (int): First step (epoch, or iteration when converted).
        end (int): End step; the runner sets the run's length when unset.
        last_step (int): For resuming without a state dict. Defaults to -1.
        by_epoch (bool): Steps are epochs (``convert_to_iter_based=True``
            updates every iteration) or iterations.
        verbose (bool): Print every update. Defaults to False.
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 warmup_fraction: float,
                 warmup_start_factor: float,
                 eta_min: float = 0.,
                 decay_begins: str = 'after_warmup',
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        name = type(self).__name__
        if end == INF:
            length = 'train_cfg.max_epochs' if by_epoch else \
                'train_cfg.max_iters'
            raise ValueError(
                f'{name} needs the length of the run: leave `end` out of the '
                'param_scheduler config and build it through the runner '
                f'(which sets it to {length}), or set `end` explicitly.')
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f'{name}: warmup_fraction must be in [0, 1), '
                             f'got {warmup_fraction}.')
        if not 0 < warmup_start_factor <= 1:
            raise ValueError(f'{name}: warmup_start_factor must be in (0, '
                             f'1], got {warmup_start_factor}.')
        if decay_begins not in DECAY_BEGINS:
            raise ValueError(f'{name}: decay_begins must be one of '
                             f'{DECAY_BEGINS}, got {decay_begins!r}.')
        self.warmup_fraction = warmup_fraction
        self.warmup_start_factor = warmup_start_factor
        self.eta_min = eta_min
        self.decay_begins = decay_begins
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
                              **kwargs) -> 'WarmupDecayLR':
        """Build an iteration-based schedule from epoch-based settings."""
        if not by_epoch:
            raise ValueError(f'Only an epoch-based {cls.__name__} '
                             '(by_epoch=True) can be converted to '
                             'iterations.')
        if not epoch_length or epoch_length < 1:
            raise ValueError(f'epoch_length must be a positive int, got '
                             f'{epoch_length}.')
        begin = int(begin * epoch_length)
        if end != INF:
            end = int(end * epoch_length)
        return cls(*args, begin=begin, end=end, by_epoch=False, **kwargs)

    def decay_at(self, step: int, steps: int) -> float:
        """The decay factor, 1 at ``step`` 0 of a decay of ``steps``."""
        raise NotImplementedError

    def warmup_at(self, step: int) -> float:
        """The warm-up factor at ``step`` (1 from the warm-up's end on)."""
        w = self.warmup_steps
        if step >= w:
            return 1.
        s = self.warmup_start_factor
        return s + (1 - s) * step / max(w - 1, 1)

    def factor_at(self, step: int) -> float:
        """The lr factor (of the base lr, ignoring ``eta_min``) at ``step``
        steps after ``begin``; see the class doc."""
        w = self.warmup_steps
        if self.decay_begins == 'at_begin':
            return self.decay_at(step, self.total_steps) * self.warmup_at(step)
        if step < w:
            return self.warmup_at(step)
        return self.decay_at(step - w, self.total_steps - w)

    def _get_value(self) -> List[float]:
        step = self.last_step
        if self.decay_begins == 'at_begin':
            decay = self.decay_at(step, self.total_steps)
            return [(self.eta_min + (base - self.eta_min) * decay) *
                    self.warmup_at(step) for base in self.base_values]
        if step < self.warmup_steps:
            return [base * self.warmup_at(step) for base in self.base_values]
        decay = self.decay_at(step - self.warmup_steps,
                              self.total_steps - self.warmup_steps)
        return [
            self.eta_min + (base - self.eta_min) * decay
            for base in self.base_values
        ]
