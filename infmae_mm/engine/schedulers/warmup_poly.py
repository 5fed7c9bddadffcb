"""Linear warm-up then poly decay, sized as fractions of the whole run."""
from typing import Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.param_scheduler import INF
from torch.optim import Optimizer

from infmae_mm.registry import register_in_hosts
from .warmup_decay import WarmupDecayLR


@register_in_hosts('PARAM_SCHEDULERS')
class WarmupPolyLR(WarmupDecayLR):
    """Linear warm-up over a fraction of the run, then poly decay to its end.

    The downstream (segmentation, IRSTD) schedule that follows
    ``train_cfg.max_iters``: leave ``end`` out of the config and the runner
    sets it, so ``--cfg-options train_cfg.max_iters=150`` gives a 150-
    iteration run its own warm-up and a decay that reaches ``eta_min`` at
    its last iteration, instead of a run that stays in a warm-up sized for
    40k iterations. With T steps and W = round(``warmup_fraction`` x T):

    * ``decay_begins='after_warmup'`` (default): ``lr (s + (1 - s) t / (W -
      1))`` for t < W, then ``eta_min + (lr - eta_min) (1 - (t - W) / (T -
      W - 1)) ** power``: exactly mmengine's ``LinearLR(end=W)`` +
      ``PolyLR(begin=W, end=T)``;
    * ``decay_begins='at_begin'``: the poly factor ``(1 - t / (T - 1)) **
      power`` from the first step, times the warm-up factor while it lasts:
      ``PolyLR(begin=0, end=T)`` overlapping ``LinearLR(end=W)``, as mmcv
      1.x ran ``policy='poly', warmup='linear'`` (the official UNIP runs).

    As mmengine's ``PolyLR``, the last step (T - 1) gets ``eta_min``.

    Args:
        optimizer (Optimizer | BaseOptimWrapper): The optimizer.
        warmup_fraction (float): Share of the run spent warming up, in
            [0, 1). Defaults to 0.0375 (1,500 of 40k iterations).
        warmup_start_factor (float): lr factor at the first step.
            Defaults to 1e-6.
        power (float): Exponent of the decay. Defaults to 1.0.
        eta_min (float): Final lr. Defaults to 0.
        decay_begins (str): ``'after_warmup'`` or ``'at_begin'``.
            Defaults to 'after_warmup'.
        begin (int): First step.
        end (int): End step; the runner sets ``train_cfg.max_iters`` (or
            ``max_epochs`` with ``by_epoch=True``) when unset.
        last_step (int): For resuming without a state dict. Defaults to -1.
        by_epoch (bool): Steps are epochs or iterations. Defaults to False
            (iterations, as the segmentation schedules).
        verbose (bool): Print every update. Defaults to False.
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 warmup_fraction: float = 0.0375,
                 warmup_start_factor: float = 1e-6,
                 power: float = 1.0,
                 eta_min: float = 0.,
                 decay_begins: str = 'after_warmup',
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False) -> None:
        if power <= 0:
            raise ValueError(f'WarmupPolyLR: power must be > 0, got {power}.')
        self.power = power
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
        """``(1 - step / (steps - 1)) ** power``: 0 at the last step."""
        last = max(steps - 1, 1)
        return (1 - min(step, last) / last)**self.power
