"""Normalised mutual information of attention maps (Park et al., ICLR 2023).

The measure UNIP uses to call a layer's attention *local* (high NMI: each
query attends to its own neighbourhood), *global* (low NMI: every query
attends to the same tokens, "attention collapse") or *hybrid* (between), as
coded in ``naver-ai/cl-vs-mim`` (``self_attention_analysis.ipynb``).
"""
from typing import Sequence, Tuple

import torch

#: Default NMI bands (global below the first value, local above the second).
#: The paper's own thresholds were not published with its code; these are a
#: starting point, set them from the teacher's curve.
DEFAULT_NMI_BANDS: Tuple[float, float] = (0.1, 0.3)


def attention_nmi(attn: torch.Tensor,
                  num_extra_tokens: int = 0,
                  eps: float = 1e-8) -> torch.Tensor:
    """NMI between query and key positions of row-stochastic attention.

    With the extra (cls) tokens dropped, ``eps`` added and rows renormalised
    to ``A``, queries uniform (``p(q) = 1/N``) and ``p(k) = sum_q p(q) A[q,
    k]``::

        MI  = sum_{q,k} p(q) A[q,k] ln(A[q,k] / p(k))
        NMI = MI / sqrt(ln N * H(p(k)))

    1 when every query attends only to its own distinct key (e.g. identity),
    0 when all queries share one distribution.

    Args:
        attn (torch.Tensor): Softmax attention (..., N, N), rows sum to 1.
        num_extra_tokens (int): Leading tokens to drop (1 for a cls token).
        eps (float): Added before renormalising. Defaults to 1e-8.

    Returns:
        torch.Tensor: NMI per leading index, shape ``attn.shape[:-2]``
        (e.g. (B, H)), float64.
    """
    a = attn[..., num_extra_tokens:, num_extra_tokens:].double() + eps
    a = a / a.sum(-1, keepdim=True)
    n = a.shape[-1]
    p_k = a.mean(-2)  # (..., N)
    mi = (a * torch.log(a / p_k.unsqueeze(-2))).sum((-2, -1)) / n
    h_q = torch.log(torch.tensor(float(n), dtype=torch.float64))
    h_k = -(p_k * torch.log(p_k)).sum(-1)
    return mi / torch.sqrt(h_q * h_k)


def nmi_band(value: float, bands: Sequence[float] = DEFAULT_NMI_BANDS) -> str:
    """``'global'``, ``'hybrid'`` or ``'local'`` for an NMI value."""
    low, high = bands
    return 'global' if value < low else 'local' if value > high else 'hybrid'
