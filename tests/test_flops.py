"""FLOP counting with attention (issue 14): the hosts' counters skip SDPA."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import get_model_complexity_info

from infmae_mm.analysis import complexity_with_attention
from infmae_mm.models import InfMAEViT


class Attention(nn.Module):

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_sdpa_multiply_adds():
    q, k, v = torch.randn(2, 3, 10,
                          8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 5)
    result = complexity_with_attention(Attention(), (q, k, v))
    # q k^T: 2*3 x 10 x 7 x 8, (attn) v: 2*3 x 10 x 7 x 5
    assert result['flops'] == result['attention_flops'] == 6 * 70 * 13
    assert not result['unsupported_ops']


def test_backbone_attention_is_counted():
    model = InfMAEViT(arch='nano').eval()
    x = torch.randn(1, 3, 64, 64)
    ours = complexity_with_attention(model, x)
    host = get_model_complexity_info(
        model, inputs=(x, ), show_table=False, show_arch=False)
    # nano: 2 ViT blocks of width 64 on a 4x4 token grid; per block
    # q k^T and (attn) v are N x N x C multiply-adds each.
    n, c, blocks = 16, 64, 2
    assert ours['attention_flops'] == blocks * 2 * n * n * c
    assert ours['flops'] == host['flops'] + ours['attention_flops']
    assert 'aten::scaled_dot_product_attention' not in ours['unsupported_ops']
