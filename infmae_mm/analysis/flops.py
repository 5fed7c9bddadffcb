"""FLOPs of a model with ``scaled_dot_product_attention`` counted.

mmengine's ``get_model_complexity_info`` (fvcore's counter) traces the model
and counts the aten ops it has handles for;
``aten::scaled_dot_product_attention`` is not among them, so every attention
layer that calls ``torch.nn.functional.scaled_dot_product_attention``
(InfMAEViT, mmpretrain's and mmseg's ViTs in torch 2) is skipped with a
warning and ViT FLOPs come out low by the attention products, a share that
grows with the token count (24.3 G of 719.4 G, 3.4%, for UperNet + InfMAE-B
at 480x640). :func:`complexity_with_attention` adds a handle for it. Like the
counter's other handles it counts multiply-adds.
"""
from typing import Any, Counter, Dict, List, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape
from mmengine.analysis.print_helper import complexity_stats_table

#: The traced op name of torch.nn.functional.scaled_dot_product_attention.
SDPA_OP = 'aten::scaled_dot_product_attention'


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of ``softmax(q k^T) v`` for traced SDPA inputs.

    With q (..., N, d), k (..., M, d) and v (..., M, d_v): ``q k^T`` takes
    ``N M d`` and the product with v ``N M d_v`` multiply-adds per leading
    index (batch x heads). The softmax, scaling and masking are not counted,
    as the counter does not count elementwise ops elsewhere.

    Args:
        inputs (list): Traced values; the first three are q, k and v.
        outputs (list): Unused.

    Returns:
        int: The multiply-add count.
    """
    q, k, v = (get_shape(value) for value in inputs[:3])
    if q is None or k is None or v is None:
        raise ValueError('scaled_dot_product_attention was traced without '
                         'complete shapes; trace with concrete inputs.')
    *lead, n, d = q
    m, dv = k[-2], v[-1]
    return int(np.prod(lead, dtype=np.int64)) * n * m * (d + dv)


def complexity_with_attention(model: nn.Module,
                              inputs: Union[torch.Tensor,
                                            Sequence[torch.Tensor]],
                              show_table: bool = False) -> Dict[str, Any]:
    """FLOPs (multiply-adds, attention included) and parameters of a model.

    Args:
        model (nn.Module): The model; ``model(*inputs)`` is traced.
        inputs (Tensor | Sequence[Tensor]): Inputs of the forward.
        show_table (bool): Also return the per-module table.

    Returns:
        dict: ``flops`` (int), ``attention_flops`` (int, the share of
        ``scaled_dot_product_attention``), ``params`` (int),
        ``by_operator`` (Counter), ``unsupported_ops`` (Counter of ops the
        counter skipped) and ``table`` (str, empty unless ``show_table``).
    """
    inputs = (inputs, ) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(**{SDPA_OP: sdpa_flop_jit})
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_operator: Counter[str] = analyzer.by_operator()
    return dict(
        flops=analyzer.total(),
        attention_flops=by_operator.get('scaled_dot_product_attention', 0),
        params=parameter_count(model)[''],
        by_operator=by_operator,
        unsupported_ops=analyzer.unsupported_ops(),
        table=complexity_stats_table(flops=analyzer, show_param_shapes=True)
        if show_table else '')
