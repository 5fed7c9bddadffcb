"""Decoding only the masked patches (``query_ids``) and the CPU attention
path: the same numbers as the full computation, gradients included."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from infmae_mm.models.layers import TransformerBlock, gather_tokens
from infmae_mm.models.layers.transformer_block import (CPU_SHORT_ATTENTION,
                                                       attention)

NANO = dict(
    type='InfMAE',
    backbone=dict(type='InfMAEViT', arch='nano', img_size=64),
    neck=dict(
        type='InfMAEPretrainDecoder',
        embed_dim=64,
        decoder_embed_dim=32,
        decoder_depth=2,
        decoder_num_heads=2,
        grid_size=4),
    head=dict(type='InfMAEReconstructionHead', in_channels=3),
    mask_generator=dict(scorer='intensity'))


def build(**overrides):
    cfg = copy.deepcopy(NANO)
    cfg.update(overrides)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def random_queries(batch: int, tokens: int, num: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack(
        [torch.randperm(tokens, generator=g)[:num] for _ in range(batch)])


def test_block_queries_equal_rows_of_the_full_output_and_gradients():
    torch.manual_seed(0)
    block = TransformerBlock(16, 2, layer_scale_init=0.5).double()
    x = torch.randn(3, 10, 16, dtype=torch.float64, requires_grad=True)
    ids = random_queries(3, 10, 7)
    grad = torch.randn(3, 7, 16, dtype=torch.float64)

    results = []
    for queries in (None, ids):
        out = block(x, query_ids=queries)
        if queries is None:
            out = gather_tokens(out, ids)
        assert out.shape == (3, 7, 16)
        grads = torch.autograd.grad(out, [x, *block.parameters()], grad)
        results.append((out, grads))
    (full, full_grads), (part, part_grads) = results
    torch.testing.assert_close(part, full, rtol=1e-12, atol=1e-12)
    for a, b in zip(part_grads, full_grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_block_queries_refuse_an_attention_bias():
    block = TransformerBlock(8, 2)
    with pytest.raises(ValueError, match='query_ids with an attn_bias'):
        block(
            torch.randn(1, 4, 8),
            attn_bias=torch.zeros(1, 2, 4, 4),
            query_ids=torch.tensor([[0, 2]]))


@pytest.mark.parametrize('decoder_depth', [0, 1, 2])
def test_decoder_queries_equal_rows_of_every_patch_prediction(decoder_depth):
    model = build(neck=dict(NANO['neck'], decoder_depth=decoder_depth))
    decoder = model.neck
    latent = torch.randn(2, 4, 64)
    ids_restore = torch.stack([torch.randperm(16) for _ in range(2)])
    masked = ids_restore.argsort(1)[:, 4:]
    full = decoder(latent, ids_restore)
    part = decoder(latent, ids_restore, query_ids=masked)
    assert part.shape == (2, 12, full.shape[-1])
    torch.testing.assert_close(
        part, gather_tokens(full, masked), rtol=1e-5, atol=1e-6)


def plain_decoder(decoder, latent, ids_restore):
    """The decoder as written in the paper: every block on every token."""
    B, N = ids_restore.shape
    x = decoder.decoder_embed(latent)
    x = torch.cat([x, decoder.mask_token.expand(B, N - x.shape[1], -1)], 1)
    x = gather_tokens(x, ids_restore) + decoder.decoder_pos_embed
    for block in decoder.decoder_blocks:
        x = block(x)
    return decoder.decoder_pred(decoder.decoder_norm(x))


def test_shared_mask_token_projections_equal_the_plain_decoder():
    """The first block projects mask_token + pos once per position; values and
    every gradient equal the per-sample computation."""
    torch.manual_seed(0)
    decoder = build().neck.double()
    latent = torch.randn(3, 4, 64, dtype=torch.float64, requires_grad=True)
    ids_restore = torch.stack([torch.randperm(16) for _ in range(3)])
    grad = torch.randn(3, 16, 768, dtype=torch.float64)
    params = [p for p in decoder.parameters() if p.requires_grad]
    results = []
    for run in (plain_decoder, decoder.forward):
        out = run(decoder, latent, ids_restore) if run is plain_decoder \
            else run(latent, ids_restore)
        results.append((out, torch.autograd.grad(out, [latent, *params],
                                                 grad)))
    (ref, ref_grads), (out, out_grads) = results
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(out_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_dugi_decoder_passes_queries_through():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        decoder = MODELS.build(
            dict(
                type='DuGIPretrainDecoder',
                guidance=dict(
                    afdm_input='visible',
                    fusion=dict(type='DDGGuidedAttention', num_heads=2)),
                embed_dim=64,
                decoder_embed_dim=32,
                decoder_num_heads=2))
    decoder.init_weights()
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 64)
    latent = torch.rand(2, 4, 64)
    ids_restore = torch.stack([torch.randperm(16) for _ in range(2)])
    masked = ids_restore.argsort(1)[:, 4:]
    full = decoder(latent, ids_restore, images=images)
    part = decoder(latent, ids_restore, images=images, query_ids=masked)
    torch.testing.assert_close(
        part, gather_tokens(full, masked), rtol=1e-5, atol=1e-6)


def test_loss_and_gradients_do_not_depend_on_decoding_masked_only():
    model = build()
    torch.manual_seed(0)
    inputs = torch.randn(3, 3, 64, 64)
    results = []
    for masked_only in (False, True):
        model.decode_masked_only = masked_only
        model.zero_grad()
        loss = model.loss(inputs, [])['loss']
        loss.backward()
        grads = {
            n: p.grad.clone()
            for n, p in model.named_parameters() if p.grad is not None
        }
        results.append((loss.detach(), grads))
    (loss_full, grads_full), (loss_part, grads_part) = results
    torch.testing.assert_close(loss_part, loss_full, rtol=1e-6, atol=0)
    assert grads_part.keys() == grads_full.keys()
    for name in grads_full:
        torch.testing.assert_close(
            grads_part[name], grads_full[name], rtol=1e-4, atol=1e-6)


class PlainDecoder(nn.Module):
    """A user's decoder with the interface before ``query_ids``."""

    def __init__(self, **kwargs):
        super().__init__()
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.inner = MODELS.build(dict(NANO['neck'], **kwargs))

    def forward(self, latent, ids_restore, grid_size=None, images=None):
        return self.inner(latent, ids_restore, grid_size, images=images)


def test_a_neck_without_queries_predicts_everything_with_a_warning(
        monkeypatch):
    import infmae_mm.models.selfsup.infmae as infmae_module
    messages = []
    monkeypatch.setattr(infmae_module, 'print_log',
                        lambda msg, **kw: messages.append(msg))
    MODELS.register_module(
        name='_PlainDecoderForTest', module=PlainDecoder, force=True)
    plain = build(neck=dict(type='_PlainDecoderForTest'))
    assert plain.decode_masked_only is False
    assert any('takes no query_ids' in m for m in messages)
    loss = plain.loss(torch.randn(2, 3, 64, 64), [])['loss']
    assert torch.isfinite(loss)


@pytest.mark.parametrize('keys', [7, CPU_SHORT_ATTENTION])
@pytest.mark.parametrize('with_bias', [False, True])
def test_short_cpu_attention_equals_sdpa(keys, with_bias):
    torch.manual_seed(0)
    q = torch.randn(2, 3, 5, 8, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 3, keys, 8, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 3, keys, 8, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(1, 3, 5, keys, dtype=torch.float64) if with_bias \
        else None
    grad = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    out = attention(q, k, v, bias)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(
            torch.autograd.grad(out, (q, k, v), grad),
            torch.autograd.grad(ref, (q, k, v), grad)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_traced_attention_keeps_sdpa():
    q = torch.randn(1, 2, 4, 8)
    graph = torch.jit.trace(lambda q: attention(q, q, q), (q, )).graph
    assert 'scaled_dot_product_attention' in str(graph)
    assert np.isclose(
        attention(q, q, q).sum().item(),
        F.scaled_dot_product_attention(q, q, q).sum().item(),
        rtol=1e-5)
