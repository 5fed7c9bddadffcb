"""An optimiser-wrapper constructor that logs its parameter groups as one
table."""
import logging
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from infmae_mm.registry import register_in_hosts


class _PerParameterLines(logging.Filter):
    """Drops mmengine's per-parameter lines of ``add_params``: one
    ``paramwise_options -- name:key=value`` line per parameter and setting,
    and a warning per frozen parameter. The table replaces both."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith('paramwise_options -- ')
                    or message.endswith('is skipped since its '
                                        'requires_grad=False'))


@register_in_hosts('OPTIM_WRAPPER_CONSTRUCTORS')
class CompactLogOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Mmengine's default constructor, logged as one compact table.

    The parameter groups (``paramwise_cfg`` rules, one group per parameter
    as mmengine builds them) are unchanged. Instead of a log line per
    parameter and setting (306 for InfMAE-B) and a warning per frozen
    tensor, it logs one row per distinct (lr, weight decay) setting with the
    number of tensors and values and example names, and one line naming the
    parameters that are not trained on purpose (``requires_grad=False``,
    e.g. the fixed sin-cos position tables).

    Example:
        >>> optim_wrapper = dict(
        ...     constructor='CompactLogOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=1.5e-4, weight_decay=0.05),
        ...     paramwise_cfg=dict(custom_keys={'.bias': dict(decay_mult=0.)}))
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        logger = MMLogger.get_current_instance()
        quiet = _PerParameterLines()
        logger.addFilter(quiet)
        try:
            optim_wrapper = super().__call__(model)
        finally:
            logger.removeFilter(quiet)
        module = model.module if hasattr(model, 'module') else model
        logger.info(group_table(module, optim_wrapper.optimizer.param_groups))
        return optim_wrapper


def group_table(model: nn.Module, param_groups: List[dict]) -> str:
    """A table of the optimiser settings of ``model``'s parameters.

    Args:
        model (nn.Module): The model the groups were built from.
        param_groups (list[dict]): The optimiser's ``param_groups``.

    Returns:
        str: One row per distinct (lr, weight decay) setting: tensors,
        values and up to three example names; then the frozen parameters.
    """
    setting_of: Dict[int, Tuple[float, float]] = {}
    for group in param_groups:
        key = (group.get('lr', 0.), group.get('weight_decay', 0.))
        for param in group['params']:
            setting_of[id(param)] = key
    rows: 'OrderedDict[Tuple[float, float], List]' = OrderedDict()
    frozen = []
    for name, param in model.named_parameters():
        key = setting_of.get(id(param))
        if key is None or not param.requires_grad:
            frozen.append(name)
            continue
        row = rows.setdefault(key, [0, 0, []])
        row[0] += 1
        row[1] += param.numel()
        row[2].append(name)
    lines = [
        f'Optimiser parameter groups ({len(param_groups)} groups):',
        f'{"lr":>10} {"weight decay":>12} {"tensors":>7} {"values":>11}  '
        f'e.g.'
    ]
    for (lr, wd), (count, numel, names) in sorted(
            rows.items(), key=lambda item: -item[1][1]):
        examples = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
        lines.append(f'{lr:>10.3g} {wd:>12.3g} {count:>7} {numel:>11,}  '
                     f'{examples}')
    if frozen:
        lines.append(f'Not trained (requires_grad=False, by design): '
                     f'{", ".join(frozen)}')
    return '\n'.join(lines)
