"""``infmae_mm.analysis.count_aten_ops``: top-level aten operators of a step,
checked against a hand-made module whose operators are counted by hand."""
import collections
import importlib.util
import os.path as osp
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from infmae_mm.analysis import count_aten_ops, count_train_step_ops
from tests.host_tools import REPO


class ExpOfProduct(nn.Module):
    """``loss = sum(exp(x * w))`` with ``w`` the shape of ``x`` (no
    broadcasting, so no reduction in the product's backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((2, 3), 0.5))

    def loss(self,
             inputs: torch.Tensor,
             data_samples: Optional[List] = None) -> Dict[str, torch.Tensor]:
        return dict(loss=torch.exp(inputs * self.weight).sum())


#: By hand. Forward: the product, the exponential, the sum (3). The seed
#: gradient of ``backward()``: ones_like (1). Backward, one operator per node:
#: SumBackward0 expands the seed, ExpBackward0 multiplies it by the result,
#: MulBackward0 by ``x`` (for ``w`` only: ``x`` needs no gradient),
#: AccumulateGrad stores the new gradient detached (4).
EXPECTED_FORWARD = {
    'aten::mul': 1,
    'aten::exp': 1,
    'aten::sum': 1,
    'aten::ones_like': 1
}
EXPECTED_BACKWARD = {
    'aten::expand': 1,
    'aten::mul': 2,
    'aten::detach': 1,
}


def test_hand_counted_step() -> None:
    model = ExpOfProduct()
    x = torch.randn(2, 3)
    counted = count_train_step_ops(model, x)
    assert counted['forward'] == 4
    assert counted['backward'] == 4
    assert counted['total'] == 8
    expected = collections.Counter(EXPECTED_FORWARD)
    expected.update(EXPECTED_BACKWARD)
    assert counted['by_name'] == expected
    # The gradient is left as the optimiser wrapper leaves it.
    assert model.weight.grad is None
    torch.testing.assert_close(counted['result'], torch.exp(x * 0.5).sum())


def test_nested_operators_count_once() -> None:
    """``aten::linear`` calls ``aten::t`` and ``aten::addmm``: one dispatch
    from the model's code, counted once."""
    x, w = torch.randn(4, 3), torch.randn(5, 3)
    with torch.no_grad():
        counted = count_aten_ops(lambda: F.linear(x, w))
    assert counted['by_name'] == collections.Counter({'aten::linear': 1})
    assert counted['backward'] == 0
    torch.testing.assert_close(counted['result'], x @ w.t())


def test_repeatable() -> None:
    """The same step counts the same (nanosecond nesting, not the microseconds
    of ``key_averages``)."""
    model = nn.Sequential(
        nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 1))
    x = torch.randn(4, 8)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()

    step()
    totals = {count_aten_ops(step)['total'] for _ in range(5)}
    assert len(totals) == 1


def test_tool_table() -> None:
    """``tools/analysis_tools/count_ops.py``'s table: ratios to MAE ViT-B and
    the operators that differ most."""
    spec = importlib.util.spec_from_file_location(
        'count_ops', osp.join(REPO, 'tools', 'analysis_tools', 'count_ops.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    results = dict(
        infmae=dict(
            label='InfMAE-B',
            total=30,
            forward=10,
            backward=20,
            by_name={
                'aten::mul': 20,
                'aten::add': 10
            }),
        mae=dict(
            label='MAE',
            total=20,
            forward=5,
            backward=15,
            by_name={
                'aten::mul': 5,
                'aten::add': 10,
                'aten::select': 5
            }))
    table = tool.format_table(results, top=2)
    assert '| InfMAE-B | 30 | 10 | 20 | 1.50x |' in table
    assert '| MAE | 20 | 5 | 15 | 1.00x |' in table
    assert '| `aten::mul` | 20 | 5 | +15 |' in table
    assert '| `aten::select` | 0 | 5 | -5 |' in table
    assert 'aten::add' not in table  # equal counts, beyond top=2
