"""Stop training at the first non-finite loss, naming the likely causes.

mmengine logs ``loss: nan`` and carries on: a run whose loss became NaN in
its first iteration still ends with "Training finished" and a checkpoint of
garbage weights. :class:`CheckFiniteLossHook` raises
:class:`NonFiniteLossError` instead, at the iteration where it happened.

Cost: the check runs after every training iteration by default. The losses
it reads are the scalars the model's ``train_step`` returns; mmengine's
``RuntimeInfoHook`` (priority VERY_HIGH, before this hook) has already
copied each of them to the host with ``.item()`` for the message hub in the
same iteration, so the device queue is drained and the check costs a few
scalar copies and comparisons, nothing measurable next to a training step.
mmdet's ``CheckInvalidLossHook`` checks every 50 iterations only; that would
let a diverged run write checkpoints and waste up to 49 iterations before it
stops, for no saving worth having. The diagnosis (inputs, masks, weights,
learning rate) runs only once the loss is non-finite.
"""
import math
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from infmae_mm.registry import register_in_hosts


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; the message names the iteration,
    the non-finite loss terms and the likely causes."""


def _non_finite_count(value: Any) -> int:
    """Non-finite elements of the float tensors in ``value`` (a tensor, or a
    list / tuple / dict of them); 0 for anything else."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return 0
        return int((~torch.isfinite(value.detach())).sum())
    if isinstance(value, (list, tuple)):
        return sum(_non_finite_count(v) for v in value)
    if isinstance(value, dict):
        return sum(_non_finite_count(v) for v in value.values())
    return 0


def _samples_without_masked_patch(data_samples: Any) -> int:
    """Samples whose IAM mask (``iam_mask``) masks no patch: their
    reconstruction loss, a mean over masked patches, is 0 / 0."""
    from infmae_mm.models.masking import IAM_MASK_KEY
    count = 0
    for sample in data_samples or []:
        iam = getattr(sample, IAM_MASK_KEY, None)
        if iam is None and isinstance(sample, dict):
            iam = sample.get(IAM_MASK_KEY)
        mask = getattr(iam, 'mask', None)
        if mask is not None and float(torch.as_tensor(mask).sum()) == 0:
            count += 1
    return count


def _files_with_non_finite_inputs(data_batch: dict,
                                  limit: int = 3) -> List[str]:
    """``img_path`` of the samples whose input holds NaN or inf values."""
    inputs, samples = data_batch.get('inputs'), data_batch.get('data_samples')
    if not isinstance(inputs, (list, tuple, torch.Tensor)) or not samples:
        return []
    files = []
    for image, sample in zip(inputs, samples):
        if _non_finite_count(image):
            meta = getattr(sample, 'metainfo', None) or {}
            files.append(str(meta.get('img_path', '?')))
    return files[:limit] + ([f'... ({len(files) - limit} more)']
                            if len(files) > limit else [])


@register_in_hosts('HOOKS')
class CheckFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a training loss is NaN or inf.

    Every term the model returns whose name contains ``'loss'`` (the ones
    mmengine sums into ``loss``) is checked, and the total ``loss``. The
    error names the iteration (1-based, as the log prints it), the
    non-finite terms, the last finite total loss logged before, and what the
    batch and the model show: non-finite input pixels, IAM masks that mask
    nothing, non-finite weights, the learning rate and the optimiser wrapper,
    each with the config key or data that fixes it.

    Every shipped config enables it in ``custom_hooks`` through the shared
    base ``configs/_base_/check_finite_loss.py`` (a config that sets its
    own ``custom_hooks`` keeps it with ``[*_base_.custom_hooks, ...]``).

    Args:
        interval (int): Check every ``interval`` training iterations.
            Defaults to 1 (every iteration; see the module doc for why that
            costs nothing measurable).
    """

    priority = 'NORMAL'  # after RuntimeInfoHook has logged the losses

    def __init__(self, interval: int = 1) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or \
                interval < 1:
            raise ValueError(
                f"The interval of dict(type='CheckFiniteLossHook') in "
                f'custom_hooks must be a positive int (1 checks every '
                f'iteration), got {interval!r}.')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Check the iteration's losses; raise when one is not finite."""
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        losses = {
            key: self._to_float(value)
            for key, value in outputs.items() if 'loss' in key
        }
        bad = {
            key: value
            for key, value in losses.items()
            if value is not None and not math.isfinite(value)
        }
        if bad:
            raise NonFiniteLossError(
                self.describe(runner, bad, data_batch or {}))

    @staticmethod
    def _to_float(value: Any) -> Optional[float]:
        if isinstance(value, torch.Tensor):
            return float(value.detach().float().mean()) \
                if value.numel() else None
        if isinstance(value, (int, float)):
            return float(value)
        return None

    def describe(self, runner, bad: Dict[str, float], data_batch: dict) -> str:
        """The error message: where, what, and the likely causes."""
        iteration = runner.iter + 1
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        where = f'iteration {iteration}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1})'
        lines = [f'Training loss is not finite at {where}: {terms}.']
        last = self._last_finite_loss(runner)
        if last is None:
            lines.append('No finite loss was logged before: the setting or '
                         'the data fails from the start.')
        else:
            lines.append(f'The last finite loss logged was {last:.4g}: '
                         f'training diverged.')
        lines.append('Likely causes:')
        lines += [f'  - {cause}' for cause in self.causes(runner, data_batch)]
        lines.append("(CheckFiniteLossHook in custom_hooks stopped the run "
                     'here so that no checkpoint of non-finite weights is '
                     'saved.)')
        return '\n'.join(lines)

    @staticmethod
    def _last_finite_loss(runner) -> Optional[float]:
        hub = getattr(runner, 'message_hub', None)
        if hub is None or 'train/loss' not in hub.log_scalars:
            return None
        values = hub.get_scalar('train/loss').data[0]
        finite = [float(v) for v in values if math.isfinite(float(v))]
        return finite[-1] if finite else None

    def causes(self, runner, data_batch: dict) -> List[str]:
        """What this batch and the model show, most specific first."""
        causes = []
        bad_pixels = _non_finite_count(data_batch.get('inputs'))
        if bad_pixels:
            files = _files_with_non_finite_inputs(data_batch)
            named = f' ({", ".join(files)})' if files else ''
            causes.append(
                f'the batch holds {bad_pixels} NaN / inf input values'
                f'{named}: a float image file with NaN or inf pixels, or a '
                f'loader that divides by a zero range; fix or drop those '
                f'files, or replace the values in the data pipeline.')
        no_mask = _samples_without_masked_patch(data_batch.get('data_samples'))
        if no_mask:
            causes.append(
                f'{no_mask} image(s) of the batch have an IAM mask that '
                f'masks no patch, so the reconstruction loss is 0 / 0: set '
                f'the IAMMaskGenerator / model.mask_generator stride to 2 or '
                f'more and use images of at least 2 patches.')
        bad_weights = self._non_finite_parameters(runner)
        if bad_weights:
            causes.append(f'non-finite weights in {", ".join(bad_weights)}: '
                          f'an update diverged or the loaded checkpoint '
                          f'(load_from / init_cfg) holds NaN.')
        lr = self._learning_rate(runner)
        wrapper = getattr(runner, 'optim_wrapper', None)
        causes.append(
            f'a learning rate too high for this batch size '
            f'(optim_wrapper.optimizer.lr{lr}): lower it or lengthen the '
            f'warm-up (param_scheduler).')
        if wrapper is not None and 'Amp' in type(wrapper).__name__:
            causes.append(
                "fp16 overflow under AMP (optim_wrapper.type="
                "'AmpOptimWrapper'): try optim_wrapper.type='OptimWrapper' "
                "(fp32) or optim_wrapper.dtype='bfloat16' to confirm.")
        if wrapper is not None and not getattr(wrapper, 'clip_grad_kwargs',
                                               None):
            causes.append('no gradient clipping: set '
                          'optim_wrapper.clip_grad=dict(max_norm=1.0).')
        return causes

    @staticmethod
    def _non_finite_parameters(runner, limit: int = 3) -> List[str]:
        model = getattr(runner, 'model', None)
        if model is None:
            return []
        names = [
            name for name, param in model.named_parameters()
            if not torch.isfinite(param.detach()).all()
        ]
        return names[:limit] + ([f'... ({len(names) - limit} more)']
                                if len(names) > limit else [])

    @staticmethod
    def _learning_rate(runner) -> str:
        wrapper = getattr(runner, 'optim_wrapper', None)
        try:
            lrs = wrapper.get_lr()
        except Exception:  # noqa: BLE001 - a diagnosis must not fail
            return ''
        values: Sequence[float] = next(iter(lrs.values()), []) \
            if isinstance(lrs, dict) else []
        return f' is now {max(values):.3g}' if values else ''
