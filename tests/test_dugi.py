"""DuGI-MAE (issue 13): entropy masking, AFDM, DDG, leakage, budget.

Every check compares against an independent computation (NumPy, float64,
closed forms) or a property the specification states
(``shared/docs/dugi_mae_reference.md`` section 11).
"""
import math

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from infmae_mm.models import (DDGThreeBranch, DualDomainGuidance, patch_scores,
                              select_tokens, softmax_entropy)
from infmae_mm.models.layers import AdaptiveFrequencyFilter
from infmae_mm.models.layers.frequency_filter import (CODE_ALPHA, CODE_BETA,
                                                      CODE_RADIUS)
from infmae_mm.testing import make_ir_image

NANO_C3 = 64  # InfMAEViT 'nano' stage-3 width


def guidance_cfg(form: str,
                 afdm_input: str = 'full',
                 num_heads: int = 2) -> dict:
    """The two published forms of the bridge (as in the configs)."""
    if form == 'paper':
        return dict(
            type='DualDomainGuidance',
            afdm_input=afdm_input,
            domain='image',
            downsample='visible',
            afdm=dict(response='lowpass', learnable=True, gate=False),
            fusion=dict(type='DDGGuidedAttention', num_heads=num_heads))
    return dict(
        type='DualDomainGuidance',
        afdm_input=afdm_input,
        domain='embedding',
        downsample='conv',
        afdm=dict(response='lowpass', learnable=True, gate=True),
        fusion=dict(type='DDGThreeBranch', num_heads=num_heads))


def mask_cfg(form: str) -> dict:
    if form == 'paper':
        return dict(
            scorer='entropy', stride=4, selection='top', descending=True)
    return dict(
        scorer='embedding_entropy',
        stride=4,
        selection='top',
        descending=False)


def dugi_model(form: str,
               afdm_input: str = 'full',
               arch: str = 'nano',
               decoder_dims: int = 32,
               heads: int = 2):
    c3 = dict(nano=NANO_C3, base=768)[arch]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = _build_infmae(form, afdm_input, arch, c3, decoder_dims, heads)
    model.init_weights()
    return model


def _build_infmae(form, afdm_input, arch, c3, decoder_dims, heads):
    return MODELS.build(
        dict(
            type='InfMAE',
            backbone=dict(type='InfMAEViT', arch=arch),
            neck=dict(
                type='DuGIPretrainDecoder',
                embed_dim=c3,
                decoder_embed_dim=decoder_dims,
                decoder_num_heads=heads,
                guidance=guidance_cfg(
                    form, afdm_input, num_heads=2 if arch == 'nano' else 12)),
            head=dict(
                type='InfMAEReconstructionHead',
                norm_pix=False,
                patch_size=16,
                in_channels=3,
                loss=dict(type='PixelReconstructionLoss', criterion='L2')),
            mask_generator=mask_cfg(form)))


def predict(model, x):
    """Masks, then the three calls of InfMAE.loss; returns (pred, masks)."""
    masks = model.compute_masks(x.detach())
    latent, _, ids_restore = model.backbone(x, masks, model.stage_fusion)
    return model.neck(latent, ids_restore, images=x), masks


def ir_batch(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Normalised infrared-like batch (B, 3, h, w)."""
    rng = np.random.default_rng(seed)
    imgs = np.stack([make_ir_image(rng, h, w) for _ in range(n)])
    x = torch.from_numpy(imgs).float()[:, None].repeat(1, 3, 1, 1)
    return (x - 0.425 * 255) / (0.2 * 255)


# ----------------------------------------------------------------- entropy
def numpy_patch_entropy(gray: np.ndarray, p: int = 16) -> np.ndarray:
    h, w = gray.shape[0] // p, gray.shape[1] // p
    out = np.zeros(h * w)
    for i in range(h):
        for j in range(w):
            counts = np.bincount(
                gray[i * p:(i + 1) * p, j * p:(j + 1) * p].ravel(),
                minlength=256)
            prob = counts[counts > 0] / counts.sum()
            out[i * w + j] = -(prob * np.log2(prob)).sum()
    return out


def test_paper_entropy_matches_numpy_histogram_and_keeps_the_tail():
    rng = np.random.default_rng(1)
    gray = make_ir_image(rng, 96, 128)
    images = torch.from_numpy(gray).float()[None, None].repeat(1, 3, 1, 1)
    scores = patch_scores(images, 'entropy', value_range=(0., 255.))
    expected = numpy_patch_entropy(gray)
    np.testing.assert_allclose(scores[0].numpy(), expected, atol=1e-5)
    # The paper's keep-set: ascending sort, keep ranks floor(0.75 N)..N-1.
    masks = select_tokens(scores, 4, 'top', descending=True)
    tail = set(np.argsort(expected, kind='stable')[int(0.75 * 48):])
    ties = np.isclose(
        np.sort(expected)[int(0.75 * 48) - 1],
        np.sort(expected)[int(0.75 * 48)])
    assert not ties
    assert set(masks.ids_keep[0].tolist()) == tail
    assert masks.mask.sum().item() == 36


def test_paper_entropy_bounds():
    patches = np.zeros((16, 48), np.uint8)
    patches[:, :16] = 77  # constant: 0 bits
    patches[:, 16:32] = np.random.default_rng(0).permutation(256).reshape(
        16, 16)  # 256 distinct levels: 8 bits
    patches[:, 32:] = np.random.default_rng(1).integers(0, 256, (16, 16))
    images = torch.from_numpy(patches).float()[None, None].repeat(1, 3, 1, 1)
    scores = patch_scores(images, 'entropy', value_range=(0., 255.))[0]
    assert scores[0].item() == 0.
    assert scores[1].item() == pytest.approx(8., abs=1e-5)
    assert 0. < scores[2].item() < 8.


def test_paper_masks_are_deterministic_and_flip_with_the_image():
    x = ir_batch(2, 96, 128, seed=3)
    masking = dugi_model('paper').mask_generator
    first, again = masking(x), masking(x.clone())
    assert torch.equal(first.mask, again.mask)
    flipped = masking(x.flip(3))
    grid = first.mask.reshape(2, 6, 8)
    assert torch.equal(flipped.mask.reshape(2, 6, 8), grid.flip(2))


def test_code_entropy_matches_float64_softmax_and_keeps_the_lowest():
    torch.manual_seed(0)
    tokens = torch.randn(2, 196, 768) * 3
    ent = softmax_entropy(tokens)
    t = tokens.double()
    p = torch.exp(t - t.logsumexp(-1, keepdim=True))
    expected = -(p * p.log()).sum(-1)
    torch.testing.assert_close(ent.double(), expected, rtol=1e-5, atol=1e-5)
    assert (ent <= math.log(768) + 1e-5).all()
    masks = select_tokens(ent, 4, 'top', descending=False)
    lowest = torch.topk(expected, 49, dim=1, largest=False).indices
    for b in range(2):
        assert set(masks.ids_keep[b].tolist()) == set(lowest[b].tolist())


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_code_entropy_is_rank_anticorrelated_with_token_energy():
    """Low softmax entropy = high-energy token (spec section 2.2)."""
    model = dugi_model('code', arch='base')
    masking = model.mask_generator
    x = ir_batch(2, 224, 224, seed=5)
    tokens = torch.nn.functional.conv2d(
        x, masking.weight, masking.bias, stride=16).flatten(2).transpose(1, 2)
    ent = patch_scores(
        x, 'embedding_entropy', weight=masking.weight, bias=masking.bias)
    for b in range(2):
        rho = spearman(ent[b].numpy(), tokens[b].norm(dim=-1).numpy())
        assert rho < -0.95


# ------------------------------------------------------------------ filter
def test_filter_equals_the_closed_form():
    afdm = AdaptiveFrequencyFilter()
    assert afdm.alpha.item() == pytest.approx(CODE_ALPHA)
    assert afdm.beta.item() == pytest.approx(CODE_BETA)
    size = (196, 768)
    h = afdm.radial_response(size).detach().double().numpy()
    u = np.arange(196)[:, None] - 98
    v = np.arange(768)[None, :] - 384
    r = CODE_RADIUS * math.hypot(196, 768) / 2
    assert r == pytest.approx(198.154, abs=1e-3)
    closed = CODE_ALPHA * np.exp(-CODE_BETA * (u**2 + v**2) / r**2)
    np.testing.assert_allclose(h, closed, rtol=1e-5, atol=1e-7)
    assert h[98, 384] == pytest.approx(CODE_ALPHA, rel=1e-6)
    # Radial symmetry about the centre.
    np.testing.assert_allclose(
        h[98 - 30, 384 + 40], h[98 + 40, 384 - 30], rtol=1e-6)
    high = AdaptiveFrequencyFilter(response='highpass').radial_response(size)
    np.testing.assert_allclose(high.detach().numpy(), 1 - closed, atol=1e-6)


def test_filter_reaches_alpha_over_e_at_r_over_sqrt_beta():
    half_diag = math.hypot(64, 64) / 2
    k = 7  # choose r so that r / sqrt(beta) is exactly 7 bins
    radius = k * math.sqrt(CODE_BETA) / half_diag
    afdm = AdaptiveFrequencyFilter(radius=radius)
    h = afdm.radial_response((64, 64))
    assert h[32, 32 + k].item() == pytest.approx(CODE_ALPHA / math.e, rel=1e-5)


def test_filtering_matches_numpy_fft():
    afdm = AdaptiveFrequencyFilter(alpha=0.8, beta=3., radius=0.3)
    x = torch.randn(2, 3, 48, 80)
    y = afdm(x).detach().numpy()
    h = afdm.radial_response((48, 80)).detach().double().numpy()
    spec = np.fft.fftshift(np.fft.fft2(x.double().numpy()), axes=(-2, -1))
    ref = np.fft.ifft2(np.fft.ifftshift(spec * h, axes=(-2, -1))).real
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_constant_input_keeps_only_dc():
    afdm = AdaptiveFrequencyFilter()
    x = torch.full((1, 2, 16, 24), 3.)
    torch.testing.assert_close(afdm(x), x * afdm.alpha.item())
    high = AdaptiveFrequencyFilter(response='highpass')
    torch.testing.assert_close(high(x), x * (1 - high.alpha.item()))


def test_fft_round_trip_is_exact_with_an_all_ones_filter():

    class AllPass(AdaptiveFrequencyFilter):

        def radial_response(self, size):
            return torch.ones(size)

    x = torch.randn(3, 196, 64)
    torch.testing.assert_close(AllPass()(x), x, rtol=0, atol=1e-5)


def test_code_gate_is_shared_and_near_one_for_large_batches():
    afdm = AdaptiveFrequencyFilter(gate=True)
    radial = afdm.radial_response((196, 768))
    gates = {}
    for batch in (2, 16):
        x = torch.rand(batch, 196, 768)
        _, response = afdm(x, return_response=True)
        assert response.shape == (1, 196, 768)  # one gate for the batch
        gates[batch] = (response / radial).detach()
    # Independent: sigmoid(0.01 * sum_b |F_b|) over the centred spectra.
    x = torch.rand(2, 196, 768, dtype=torch.float64)
    spec = np.fft.fftshift(np.fft.fft2(x.numpy()), axes=(-2, -1))
    expected = 1 / (1 + np.exp(-0.01 * np.abs(spec).sum(0)))
    _, response = afdm(x.float(), return_response=True)
    np.testing.assert_allclose(
        (response / radial)[0].detach().numpy(), expected, rtol=1e-4)
    assert gates[2].min() < 0.9
    assert gates[16].mean() > 0.99


def test_filter_rejects_out_of_range_constants():
    with pytest.raises(ValueError, match='afdm.alpha'):
        AdaptiveFrequencyFilter(alpha=1.2)
    with pytest.raises(ValueError, match='afdm.response'):
        AdaptiveFrequencyFilter(response='bandpass')


def test_frozen_filter_keeps_constants_as_buffers():
    afdm = AdaptiveFrequencyFilter(learnable=False, gate=True)
    assert list(afdm.parameters()) == []
    assert afdm.gate_weight.item() == pytest.approx(0.01)


# ----------------------------------------------------------------- shapes
@pytest.mark.parametrize('form', ['paper', 'code'])
def test_shapes_at_224_base(form):
    torch.manual_seed(0)
    model = dugi_model(form, arch='base', decoder_dims=512, heads=16)
    x = ir_batch(2, 224, 224)
    seen = {}
    bridge = model.neck.guidance
    bridge.register_forward_hook(
        lambda m, args, out: seen.update(tokens=out[0], ids=out[1]))
    model.neck.decoder_blocks[0].norm2.register_forward_pre_hook(
        lambda m, args: seen.update(decoder_in=args[0]))
    with torch.no_grad():
        masks = model.compute_masks(x)
        latent, mask, ids_restore = model.backbone(x, masks,
                                                   model.stage_fusion)
        views = bridge.filter(x, mask)
        pred = model.neck(latent, ids_restore, images=x)
        loss = model.head.loss(pred, x, mask)
    assert mask.shape == (2, 196) and (mask.sum(1) == 147).all()
    assert masks.ids_keep.shape == (2, 49)
    assert latent.shape == (2, 49, 768)
    assert views['freq_tokens'].shape == (2, 196, 768)
    down = bridge.per_visible_token(views['freq_tokens'], masks.ids_keep)
    assert down.shape == (2, 49, 768)
    expected_tokens = 49 if form == 'paper' else 147
    assert seen['tokens'].shape == (2, expected_tokens, 768)
    assert seen['decoder_in'].shape == (2, 196, 512)
    assert pred.shape == (2, 196, 768)
    assert loss.dim() == 0 and torch.isfinite(loss)


@pytest.mark.parametrize('form', ['paper', 'code'])
def test_shapes_non_square(form):
    model = dugi_model(form)
    x = ir_batch(2, 128, 192)  # 8 x 12 = 96 tokens, 24 visible
    pred, masks = predict(model, x)
    assert masks.ids_keep.shape == (2, 24)
    assert pred.shape == (2, 96, 768)
    assert torch.isfinite(model.loss(x, [])['loss'])


# -------------------------------------------------------------- placement
def test_code_placement_matches_the_released_code():
    """Masked slot of code rank rho holds branch rho // n of the visible token
    rho mod n (code order: entropy descending); visible slots hold the mask
    token."""
    torch.manual_seed(0)
    B, N, C = 2, 64, 16
    n = N // 4
    entropy = torch.rand(B, N)
    masks = select_tokens(entropy, 4, 'top', descending=False)
    table = torch.randn(B, N, C)  # a vector per raster position
    latent = torch.gather(table, 1, masks.ids_keep[...,
                                                   None].expand(-1, -1, C))
    freq = torch.randn(B, n, C)
    fusion = DDGThreeBranch(embed_dims=C, num_heads=2)
    tokens, placement = fusion(latent, freq, masks.ids_restore)
    mask_token = torch.full((1, 1, C), 123.)
    slots = torch.gather(
        torch.cat(
            [tokens, mask_token.expand(B, N - tokens.shape[1], -1)], 1), 1,
        placement[..., None].expand(-1, -1, C))
    # Independent: the released code's own ordering.
    ids_shuffle = torch.argsort(entropy, dim=1, descending=True)
    kept_code, masked_code = ids_shuffle[:, N - n:], ids_shuffle[:, :N - n]
    x = torch.gather(table, 1, kept_code[..., None].expand(-1, -1, C))
    with torch.no_grad():
        branch = [
            fusion.branches[0](0.5 * x + 0.5 * freq), fusion.branches[1](x),
            fusion.branches[2](x)
        ]
        for b in range(B):
            visible = (masks.mask[b] == 0).nonzero().flatten()
            assert (slots[b, visible] == 123.).all()
            assert ((slots[b] == 123.).all(-1)).sum() == n
            for rho in range(N - n):
                pos = masked_code[b, rho]
                torch.testing.assert_close(slots[b, pos],
                                           branch[rho // n][b, rho % n])


def test_code_placement_needs_a_quarter_visible():
    fusion = DDGThreeBranch(embed_dims=16, num_heads=2)
    masks = select_tokens(torch.rand(1, 64), 2, 'top')
    with pytest.raises(ValueError, match='exactly 16 visible'):
        fusion(torch.rand(1, 32, 16), torch.rand(1, 32, 16), masks.ids_restore)


def test_paper_guidance_pairs_frequency_tokens_with_visible_positions():
    bridge = DualDomainGuidance(
        afdm_input='full',
        embed_dims=16,
        fusion=dict(type='DDGGuidedAttention', num_heads=2))
    x = torch.randn(1, 3, 64, 64)
    masks = select_tokens(torch.rand(1, 16), 4, 'top')
    tokens = bridge.filter(x, masks.mask)['freq_tokens']
    paired = bridge.per_visible_token(tokens, masks.ids_keep)
    torch.testing.assert_close(paired[0], tokens[0, masks.ids_keep[0]])


def test_bridge_rejects_unknown_choices():
    with pytest.raises(ValueError, match='model.guidance.afdm_input'):
        DualDomainGuidance(afdm_input='masked')
    with pytest.raises(ValueError, match='model.guidance.domain'):
        DualDomainGuidance(afdm_input='full', domain='wavelet')


# ----------------------------------------------------- gradients, leakage
@pytest.mark.parametrize('form', ['paper', 'code'])
def test_every_registered_parameter_trains(form):
    torch.manual_seed(0)
    model = dugi_model(form)
    model.train()
    loss = model.loss(ir_batch(2, 96, 96), [])['loss']
    loss.backward()
    frozen = {'backbone.pos_embed', 'neck.decoder_pos_embed'}
    dead = [
        name for name, p in model.named_parameters()
        if name not in frozen and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert dead == []
    names = dict(model.named_parameters())
    for key in ('alpha_logit', 'beta_log', 'radius_logit'):
        assert names[f'neck.guidance.afdm.{key}'].grad.abs() > 0
    if form == 'code':
        assert names['neck.guidance.afdm.gate_weight'].grad.abs() > 0
        assert names['neck.guidance.token_pool.weight'].grad.abs().sum() > 0
        assert names['neck.guidance.fusion.mix'].grad.abs().sum() > 0
    assert not any(p.requires_grad for n, p in names.items() if n in frozen)


@pytest.mark.parametrize('form', ['paper', 'code'])
def test_bridge_and_decoder_under_autocast(form):
    """The DuGI decoder under autocast (bf16 on CPU; AMP uses fp16 on GPU):

    the FFT runs in float32, the loss is finite and the filter trains.
    """
    torch.manual_seed(0)
    model = dugi_model(form)
    x = ir_batch(2, 96, 96)
    masks = model.compute_masks(x)
    latent, mask, ids_restore = model.backbone(x, masks, model.stage_fusion)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        pred = model.neck(latent, ids_restore, images=x)
        loss = model.head.loss(pred.float(), x, mask)
    loss.backward()
    assert pred.dtype == torch.bfloat16
    assert torch.isfinite(loss)
    assert model.neck.guidance.afdm.alpha_logit.grad.abs() > 0


def masked_pixel_gradient(model, x):
    x = x.clone().requires_grad_(True)
    pred, masks = predict(model, x)
    masked = masks.mask.bool()
    grad, = torch.autograd.grad(pred[masked].sum(), x, allow_unused=True)
    if grad is None:
        return 0.
    p = 16
    B, _, H, W = x.shape
    pix = masks.mask.reshape(B, 1, H // p,
                             W // p).repeat_interleave(p, 2).repeat_interleave(
                                 p, 3).expand_as(x).bool()
    return grad[pix].abs().max().item()


@pytest.mark.parametrize('form', ['paper', 'code'])
def test_full_image_afdm_leaks_masked_content_and_visible_does_not(form):
    torch.manual_seed(0)
    x = ir_batch(2, 96, 96, seed=2)
    leaky = dugi_model(form, 'full')
    assert leaky.neck.guidance.leaks_masked_content
    assert masked_pixel_gradient(leaky, x) > 1e-6
    sealed = dugi_model(form, 'visible')
    assert not sealed.neck.guidance.leaks_masked_content
    assert masked_pixel_gradient(sealed, x) == 0.


def test_encoder_path_alone_does_not_leak():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='InfMAE',
                backbone=dict(type='InfMAEViT', arch='nano'),
                neck=dict(
                    type='InfMAEPretrainDecoder',
                    embed_dim=NANO_C3,
                    decoder_embed_dim=32,
                    decoder_num_heads=2),
                head=dict(
                    type='InfMAEReconstructionHead',
                    loss=dict(type='PixelReconstructionLoss', criterion='L2')),
                mask_generator=mask_cfg('paper')))
    model.init_weights()
    assert masked_pixel_gradient(model, ir_batch(2, 96, 96, seed=2)) == 0.


# ---------------------------------------------------------------- budget
def test_code_form_parameter_budget():
    """117,969,792 in the released model; DDG 21,252,096; here also the
    registered Conv1d (2,360,064), the filter scalars (4) and mix (2)."""
    model = dugi_model('code', arch='base', decoder_dims=512, heads=16)
    params = dict(model.named_parameters())
    count = lambda prefix: sum(  # noqa: E731
        p.numel() for n, p in params.items() if n.startswith(prefix))
    guidance = 'neck.guidance.'
    assert count(guidance + 'fusion.branches') == 21_252_096
    assert count(guidance + 'token_pool') == 768 * 768 * 4 + 768
    assert count(guidance + 'afdm') == 4
    assert count(guidance + 'fusion.mix') == 2
    infmae_part = sum(p.numel() for n, p in params.items()
                      if not n.startswith(guidance))
    assert infmae_part + count(guidance + 'freq_embed') == 96_717_696
    assert count('') == 117_969_792 + 2_360_064 + 4 + 2


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize('form,afdm_input', [('paper', 'full'),
                                             ('code', 'full'),
                                             ('paper', 'visible')])
def test_loss_falls_in_short_training(form, afdm_input):
    """A few optimiser steps on a fixed batch lower the loss of each form."""
    x = ir_batch(2, 64, 64, seed=7)
    torch.manual_seed(0)
    model = dugi_model(form, afdm_input)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        loss = model.loss(x, [])['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3]), losses


# --------------------------------------------------------------- pictures
@pytest.mark.parametrize('form,afdm_input', [('paper', 'full'),
                                             ('code', 'visible')])
def test_picture_columns(form, afdm_input):
    from infmae_mm.visualization.frequency_views import view_cells, view_titles
    model = dugi_model(form, afdm_input)
    x = ir_batch(1, 64, 96)
    gray = np.random.default_rng(0).integers(0, 256, (64, 96), np.uint8)
    gray[:16, :16] = 9  # a constant patch: 0 bits
    masks = model.compute_masks(x)
    cells = view_cells(model, x, gray, masks.mask)
    titles = view_titles(model)
    assert len(cells) == len(titles) == 3
    entropy, response, filtered = cells
    assert entropy.shape == (64, 96, 3)
    assert (entropy[:16, :16] == entropy[0, 0]).all()
    assert not (entropy[16:32, :16] == entropy[0, 0]).all()
    expected = (64, 96) if form == 'paper' else (24, 64)  # H x W or N x C
    assert response.shape == expected and filtered.shape == (64, 96)
    assert ('full image' in titles[2]) == (afdm_input == 'full')
