"""Top-level aten operators a training step dispatches.

At the batch sizes users train at on a GPU, an eager step is bound by how many
operators it dispatches (each at least one kernel launch and some Python),
not by its FLOPs. :func:`count_aten_ops` counts them on any device, the CPU
included, with ``torch.profiler``.

Method: the profiler records every ``RecordFunction`` range on the calling
thread and on the autograd engine's threads: aten operators (``aten::...``),
the autograd nodes of the backward (``autograd::engine::evaluate_function:
AddmmBackward0`` > ``AddmmBackward0``) and ``record_function`` ranges. An aten
operator is *top-level* when none of its ancestors in that tree is an aten
operator: it is what the Python code (forward) or an autograd node (backward)
asked for, and the operators it calls itself (``aten::linear`` >
``aten::t``, ``aten::addmm``) are its implementation, not more dispatches
from the model. The tree is the profiler's own
(``kineto_results.experimental_event_tree()``, nested by the recorded
nanosecond start and end times); ``key_averages()`` and ``function_events``
nest by microseconds, which puts an operator that starts in the microsecond
its sibling ends under the sibling, so the count would move by a few
operators from run to run.

Counted are the operators between entering and leaving the profiled call:
for a step, the forward, the loss, ``backward()``'s seed gradient
(``aten::ones_like``) and the backward, with ``AccumulateGrad``'s
``aten::detach`` per parameter when the gradients start as ``None``
(``zero_grad(set_to_none=True)``, mmengine's and PyTorch's default). The count
does not depend on the device, but an operator that has a device-specific
implementation (``infmae_mm.models.ops``) counts as the device runs it.
"""
import collections
import functools
import operator
from typing import Any, Callable, Counter, Dict, Iterable, Optional

import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile

#: Prefix of aten operator ranges.
ATEN = 'aten::'
#: Prefix of the autograd engine's range around each backward node.
BACKWARD = 'autograd::engine::evaluate_function'


def _top_level(nodes: Iterable[Any], backward: bool,
               counts: Dict[str, Counter[str]]) -> None:
    for node in nodes:
        name = node.name
        if name.startswith(ATEN):
            counts['backward' if backward else 'forward'][name] += 1
            continue  # what it calls is its implementation
        _top_level(node.children, backward or name.startswith(BACKWARD),
                   counts)


def count_aten_ops(fn: Callable[[], Any]) -> Dict[str, Any]:
    """Top-level aten operators dispatched while ``fn()`` runs.

    Args:
        fn (Callable): Called once, under the profiler (CPU activity only:
            operator ranges, no CUDA kernels, shapes or stacks).

    Returns:
        dict: ``total`` (int), ``forward`` and ``backward`` (int: outside
        and inside the autograd engine's backward nodes), ``by_name``
        (Counter of operator names, both together) and ``result`` (what
        ``fn`` returned).
    """
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = fn()
    roots = prof.profiler.kineto_results.experimental_event_tree()
    counts: Dict[str, Counter[str]] = dict(
        forward=collections.Counter(), backward=collections.Counter())
    _top_level(roots, False, counts)
    forward = sum(counts['forward'].values())
    backward = sum(counts['backward'].values())
    return dict(
        total=forward + backward,
        forward=forward,
        backward=backward,
        by_name=counts['forward'] + counts['backward'],
        result=result)


def _loss_of(losses: Dict[str, Any]) -> torch.Tensor:
    """The sum of the ``loss`` terms of a ``model.loss`` dict (as mmengine's
    ``parse_losses``, without its logging)."""
    terms = []
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        terms += list(value) if isinstance(value, (list, tuple)) else [value]
    if not terms:
        raise ValueError(f'model.loss returned no loss term: {list(losses)}')
    return functools.reduce(operator.add, terms)


def count_train_step_ops(model: nn.Module,
                         inputs: torch.Tensor,
                         data_samples: Optional[list] = None,
                         warmup: int = 1) -> Dict[str, Any]:
    """Top-level aten operators of one training step's forward and backward.

    The step is ``model.loss(inputs, data_samples)``, its loss terms summed
    and ``backward()``; the optimiser update is not part of it. ``warmup``
    steps run first (unprofiled: lazy initialisation and caches), and the
    gradients are set to ``None`` before each step, as the optimiser
    wrapper leaves them.

    Args:
        model (nn.Module): A model with mmengine's ``loss(inputs,
            data_samples)`` (an mmpretrain self-supervised algorithm).
        inputs (Tensor): The batch, after the data preprocessor.
        data_samples (list, optional): Its samples (with the pipeline's
            masks where the recipe makes them there).
        warmup (int): Unprofiled steps before the counted one.

    Returns:
        dict: As :func:`count_aten_ops` (``result`` is the loss, detached).
    """

    def step() -> torch.Tensor:
        loss = _loss_of(model.loss(inputs, data_samples))
        loss.backward()
        return loss

    model.train()
    for _ in range(warmup):
        model.zero_grad(set_to_none=True)
        step()
    model.zero_grad(set_to_none=True)
    counted = count_aten_ops(step)
    counted['result'] = counted['result'].detach()  # outside the count
    model.zero_grad(set_to_none=True)
    return counted
