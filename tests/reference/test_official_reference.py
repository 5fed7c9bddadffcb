"""Tests of the test oracle ``tests/reference/official_infmae.py`` itself.

Every expectation here is written from the specification
(docs/infmae_reference.md, sections 1, 2 and 4.2), independently of the
oracle's code. Only the tests named ``test_full_size_*`` build the full
96.7M-parameter official model (one shared instance, about two seconds on CPU);
all others use a tiny variant.
"""
import argparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from .official_infmae import (OfficialInfMAE, get_2d_sincos_pos_embed,
                              save_official_checkpoint)

P = 16  # token patch size


def tiny_model(seed=0, **kwargs):
    """A small model with the official structure: 96x96 input -> 6x6 = 36
    tokens."""
    cfg = dict(
        img_size=96,
        embed_dims=(8, 12, 16),
        depths=(1, 1, 2),
        num_heads=2,
        mlp_ratio=2,
        decoder_embed_dim=8,
        decoder_depth=2,
        decoder_num_heads=2)
    cfg.update(kwargs)
    torch.manual_seed(seed)
    return OfficialInfMAE(**cfg).eval()


def tiny_images(batch=3, side=96, seed=1, chans=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, chans, side, side, generator=g)


def iam_scores(model, imgs):
    """Independent IAM score: mean over output channels of the k16/s16 conv.

    (B, N).
    """
    w, b = model.patch_embed.proj.weight, model.patch_embed.proj.bias
    return F.conv2d(imgs, w, b, stride=P).mean(dim=1).flatten(1)


# ======================================================================================
# Expected official key list (spec section 4.2), built programmatically
# ======================================================================================
def expected_official_shapes():
    C1, C2, C3, D, N = 256, 384, 768, 512, 196
    e = {
        'pos_embed': (1, N, C3),
        'mask_token': (1, 1, D),
        'decoder_pos_embed': (1, N, D),
        'patch_embed.proj.weight': (C3, 3, 16, 16),
        'patch_embed.proj.bias': (C3, ),
    }
    for i, (cin, cout, k) in enumerate([(3, C1, 4), (C1, C2, 2), (C2, C3, 2)],
                                       start=1):
        e[f'patch_embed{i}.proj.weight'] = (cout, cin, k, k)
        e[f'patch_embed{i}.proj.bias'] = (cout, )
        e[f'patch_embed{i}.norm.weight'] = (cout, )
        e[f'patch_embed{i}.norm.bias'] = (cout, )
    e['patch_embed4.weight'] = (C3, C3)
    e['patch_embed4.bias'] = (C3, )
    e['stage1_output_decode.weight'] = (C3, C1, 4, 4)
    e['stage1_output_decode.bias'] = (C3, )
    e['stage2_output_decode.weight'] = (C3, C2, 2, 2)
    e['stage2_output_decode.bias'] = (C3, )

    for stage, C in (('blocks1', C1), ('blocks2', C2)):
        for n in range(2):
            p = f'{stage}.{n}.'
            for name in ('norm1', 'norm2'):
                e[p + name + '.weight'] = (C, )
                e[p + name + '.bias'] = (C, )
            for name in ('conv1', 'conv2'):
                e[p + name + '.weight'] = (C, C, 1, 1)
                e[p + name + '.bias'] = (C, )
            e[p + 'attn.weight'] = (C, 1, 5, 5)
            e[p + 'attn.bias'] = (C, )
            e[p + 'mlp.fc1.weight'] = (4 * C, C, 1, 1)
            e[p + 'mlp.fc1.bias'] = (4 * C, )
            e[p + 'mlp.fc2.weight'] = (C, 4 * C, 1, 1)
            e[p + 'mlp.fc2.bias'] = (C, )

    def vit_block(p, C):
        for name in ('norm1', 'norm2'):
            e[p + name + '.weight'] = (C, )
            e[p + name + '.bias'] = (C, )
        e[p + 'attn.qkv.weight'] = (3 * C, C)
        e[p + 'attn.qkv.bias'] = (3 * C, )
        e[p + 'attn.proj.weight'] = (C, C)
        e[p + 'attn.proj.bias'] = (C, )
        e[p + 'mlp.fc1.weight'] = (4 * C, C)
        e[p + 'mlp.fc1.bias'] = (4 * C, )
        e[p + 'mlp.fc2.weight'] = (C, 4 * C)
        e[p + 'mlp.fc2.bias'] = (C, )

    for n in range(11):
        vit_block(f'blocks3.{n}.', C3)
    e['norm.weight'] = (C3, )
    e['norm.bias'] = (C3, )
    e['decoder_embed.weight'] = (D, C3)
    e['decoder_embed.bias'] = (D, )
    for n in range(2):
        vit_block(f'decoder_blocks.{n}.', D)
    e['decoder_norm.weight'] = (D, )
    e['decoder_norm.bias'] = (D, )
    e['decoder_pred.weight'] = (16 * 16 * 3, D)
    e['decoder_pred.bias'] = (16 * 16 * 3, )
    return e


ENCODER_PREFIXES = ('patch_embed1', 'patch_embed2', 'patch_embed3',
                    'patch_embed4', 'blocks1', 'blocks2', 'blocks3', 'norm',
                    'pos_embed')


@pytest.fixture(scope='module')
def full_model():
    """FULL-SIZE official model (96.7M parameters), built once for this
    module."""
    torch.manual_seed(0)
    return OfficialInfMAE().eval()


# ======================================================================================
# FULL-SIZE tests
# ======================================================================================
def test_full_size_state_dict_matches_official_key_list(full_model):
    sd = full_model.state_dict()
    expected = expected_official_shapes()
    assert len(expected) == 243
    assert set(sd) == set(expected)
    for k, shape in expected.items():
        assert tuple(sd[k].shape) == shape, k
    assert len(sd) == 243
    assert sum(v.numel() for v in sd.values()) == 96_717_696
    enc = sum(v.numel() for k, v in sd.items()
              if k.split('.')[0] in ENCODER_PREFIXES)
    assert enc == 84_605_824
    # Fixed pos embeds are in the state dict but are not trainable.
    assert not full_model.pos_embed.requires_grad
    assert not full_model.decoder_pos_embed.requires_grad


def test_full_size_init_and_eps(full_model):
    m = full_model
    # xavier_uniform on patch_embed3.proj's flattened (768, 384*2*2) view ...
    w = m.patch_embed3.proj.weight
    xavier_bound = (6.0 / (768 + 384 * 4))**0.5
    default_bound = 1.0 / (384 * 4)**0.5  # PyTorch default conv init bound
    assert w.abs().max() <= xavier_bound and w.abs().max(
    ) > 1.5 * default_bound
    # ... while the other convs keep the PyTorch default (kaiming-uniform,
    # a=sqrt(5)).
    assert m.patch_embed.proj.weight.abs().max() <= 1.0 / (3 * 256)**0.5
    assert m.stage1_output_decode.weight.abs().max() <= 1.0 / (256 * 16)**0.5
    # Linear: xavier, bias 0. LayerNorm: 1 / 0.
    assert torch.all(m.decoder_pred.bias == 0) and torch.all(
        m.blocks3[0].attn.qkv.bias == 0)
    assert m.patch_embed4.weight.abs().max() <= (6.0 / 1536)**0.5
    assert torch.all(m.norm.weight == 1) and torch.all(
        m.blocks1[0].norm1.bias == 0)
    assert 0.015 < m.mask_token.std().item() < 0.025
    # LayerNorm eps: 1e-5 in PatchEmbed / CBlock, 1e-6 in ViT blocks and final
    # norms.
    assert m.patch_embed1.norm.eps == 1e-5 and m.blocks2[1].norm2.eps == 1e-5
    assert m.blocks3[0].norm1.eps == 1e-6 and m.norm.eps == 1e-6
    assert m.decoder_blocks[1].norm2.eps == 1e-6 and m.decoder_norm.eps == 1e-6
    assert m.blocks1[0].attn.groups == 256 and m.blocks1[0].attn.padding == (2,
                                                                             2)


def test_full_size_forward_shapes_at_224(full_model):
    imgs = tiny_images(batch=1, side=224)
    with torch.no_grad():
        latent, mask, ids_restore = full_model.forward_encoder(imgs)
        loss, pred, mask2 = full_model(imgs)
    assert latent.shape == (1, 49, 768)
    assert mask.shape == ids_restore.shape == (1, 196)
    assert pred.shape == (1, 196, 768)
    assert mask.sum().item() == 147 and torch.equal(mask, mask2)
    assert torch.isfinite(loss)


def test_full_size_pos_embed_matches_numpy(full_model):
    np.testing.assert_allclose(
        full_model.pos_embed[0].numpy(), numpy_sincos_2d(768, 14), atol=1e-6)
    np.testing.assert_allclose(
        full_model.decoder_pos_embed[0].numpy(),
        numpy_sincos_2d(512, 14),
        atol=1e-6)


# ======================================================================================
# Position embedding
# ======================================================================================
def numpy_sincos_2d(dim, g):
    """MAE's 2-D sin-cos formula, written in numpy from the spec."""
    grid_h = np.arange(g, dtype=np.float32)
    grid_w = np.arange(g, dtype=np.float32)
    grid = np.stack(
        np.meshgrid(grid_w, grid_h),
        axis=0)  # 'xy': grid[0] varies along columns

    def one_d(d, pos):
        omega = 1.0 / 10000**(np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one_d(dim // 2, grid[0]),
                           one_d(dim // 2, grid[1])],
                          axis=1)


@pytest.mark.parametrize('dim,g', [(16, 6), (32, 5), (768, 14)])
def test_pos_embed_matches_numpy_and_scalar_formula(dim, g):
    emb = get_2d_sincos_pos_embed(dim, g).numpy()
    assert emb.shape == (g * g, dim)
    np.testing.assert_allclose(emb, numpy_sincos_2d(dim, g), atol=1e-6)
    # Scalar check: token t = r * g + c; channels [0, D/2) encode the column c.
    q = dim // 4
    for t in (0, 1, g, g * g - 1):
        r, c = divmod(t, g)
        for k in (0, q - 1):
            om = 1.0 / 10000**(k / q)
            assert emb[t, k] == pytest.approx(np.sin(c * om), abs=1e-6)
            assert emb[t, q + k] == pytest.approx(np.cos(c * om), abs=1e-6)
            assert emb[t, 2 * q + k] == pytest.approx(np.sin(r * om), abs=1e-6)
            assert emb[t, 3 * q + k] == pytest.approx(np.cos(r * om), abs=1e-6)


def test_tiny_pos_embeds_are_sincos():
    m = tiny_model()
    np.testing.assert_allclose(
        m.pos_embed[0].numpy(), numpy_sincos_2d(16, 6), atol=1e-6)
    np.testing.assert_allclose(
        m.decoder_pos_embed[0].numpy(), numpy_sincos_2d(8, 6), atol=1e-6)


# ======================================================================================
# Information-aware masking
# ======================================================================================
@pytest.mark.parametrize('stride', [4, 2])
def test_iam_visible_set_and_rank_guarantees(stride):
    m = tiny_model(stride=stride)
    imgs = tiny_images(batch=4)
    N = 36
    with torch.no_grad():
        ids_keep, mask, ids_restore = m.information_aware_masking(imgs)
        score = iam_scores(m, imgs)
    assert mask.shape == ids_restore.shape == (4, N)
    assert ids_keep.shape == (4, N // stride)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.all((mask == 0).sum(1) == N // stride)
    for b in range(4):
        order = np.argsort(
            score[b].numpy(), kind='stable')  # ascending rank -> token id
        visible = set(order[::stride].tolist())
        assert set(torch.nonzero(mask[b] == 0).flatten().tolist()) == visible
        assert ids_keep[b].tolist() == order[::stride].tolist(
        )  # visible ids, rank order
        assert mask[b, order[0]] == 0  # lowest score always visible
        for top in order[N - (stride - 1):]:  # top S-1 ranks always masked
            assert mask[b, top] == 1
        assert torch.equal(ids_restore[b], torch.from_numpy(np.argsort(order)))


def test_iam_is_deterministic_and_per_sample():
    m = tiny_model()
    imgs = tiny_images(batch=3)
    with torch.no_grad():
        a = m.information_aware_masking(imgs)
        b = m.information_aware_masking(imgs.clone())
        single = m.information_aware_masking(imgs[1:2])
        _, enc_mask, enc_restore = m.forward_encoder(imgs)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert torch.equal(single[1][0], a[1][1])
    assert torch.equal(enc_mask, a[1]) and torch.equal(enc_restore, a[2])


def test_iam_with_intensity_scorer_on_known_image():
    """With the scorer set to the patch mean, the ranking is the patch
    intensity ranking."""
    m = tiny_model()
    with torch.no_grad():
        m.patch_embed.proj.weight.fill_(1.0 / (3 * P * P))
        m.patch_embed.proj.bias.zero_()
    g = 6
    perm = torch.randperm(g * g, generator=torch.Generator().manual_seed(3))
    levels = perm.float().reshape(1, 1, g, g)  # patch t has intensity perm[t]
    imgs = F.interpolate(
        levels, scale_factor=P, mode='nearest').expand(2, 3, -1, -1)
    with torch.no_grad():
        _, mask, ids_restore = m.information_aware_masking(imgs)
    assert torch.equal(ids_restore[0],
                       perm)  # rank of token t is its intensity
    expected = (perm % 4 != 0).float()  # ranks 0, 4, 8, ... visible
    assert torch.equal(mask[0], expected) and torch.equal(mask[1], expected)


def test_stage_masks_are_nearest_upsampling():
    m = tiny_model()
    with torch.no_grad():
        _, mask, _ = m.information_aware_masking(tiny_images(batch=2))
    mask1, mask2 = m.stage_masks(mask, 6)
    grid = mask.reshape(2, 6, 6)
    assert mask1.shape == (2, 1, 24, 24) and mask2.shape == (2, 1, 12, 12)
    assert torch.equal(mask1[:, 0],
                       grid.repeat_interleave(4, 1).repeat_interleave(4, 2))
    assert torch.equal(mask2[:, 0],
                       grid.repeat_interleave(2, 1).repeat_interleave(2, 2))


def test_encoder_ignores_masked_content(monkeypatch):
    """With a fixed mask, changing masked patches leaves the latent
    unchanged."""
    m = tiny_model()
    imgs = tiny_images(batch=2)
    with torch.no_grad():
        fixed = m.information_aware_masking(imgs)
        pix_mask = F.interpolate(fixed[1].reshape(2, 1, 6, 6), scale_factor=P)
        noisy = imgs + 5 * pix_mask * torch.randn_like(imgs)
        monkeypatch.setattr(m, 'information_aware_masking', lambda x: fixed)
        lat_a, _, _ = m.forward_encoder(imgs)
        lat_b, _, _ = m.forward_encoder(noisy)
    assert lat_a.shape == (2, 9, 16)
    torch.testing.assert_close(lat_a, lat_b, atol=1e-5, rtol=1e-5)


# ======================================================================================
# Decoder placement
# ======================================================================================
@pytest.mark.parametrize('stride', [4, 2])
def test_sorted_buffer_decoder_equals_scatter(stride):
    m = tiny_model(stride=stride)
    imgs = tiny_images(batch=3)
    with torch.no_grad():
        latent, mask, ids_restore = m.forward_encoder(imgs)
        pred = m.forward_decoder(latent, ids_restore)

        # Straightforward formulation: scatter visible tokens to their raster
        # positions.
        x = m.decoder_embed(latent)
        B, Nv, D = x.shape
        N = ids_restore.shape[1]
        ids_keep = torch.argsort(ids_restore, dim=1)[:, ::stride]
        full = m.mask_token.expand(B, N, D).clone()
        full.scatter_(1, ids_keep.unsqueeze(-1).expand(-1, -1, D), x)
        assert torch.all(mask.gather(1, ids_keep) == 0)
        full = full + m.decoder_pos_embed
        for blk in m.decoder_blocks:
            full = blk(full)
        ref = m.decoder_pred(m.decoder_norm(full))
    assert pred.shape == (3, 36, P * P * 3)
    torch.testing.assert_close(pred, ref, atol=1e-6, rtol=1e-5)


# ======================================================================================
# patchify and loss
# ======================================================================================
def test_patchify_order_and_roundtrip():
    m = tiny_model()
    imgs = tiny_images(batch=2)
    x = m.patchify(imgs)
    assert x.shape == (2, 36, P * P * 3)
    for (b, c, r, col, p, q) in [(0, 0, 0, 0, 0, 0), (1, 2, 3, 5, 7, 11),
                                 (0, 1, 5, 2, 15, 1)]:
        assert x[b, r * 6 + col, (p * P + q) * 3 + c] == imgs[b, c, r * P + p,
                                                              col * P + q]
    assert torch.equal(m.unpatchify(x), imgs)


@pytest.mark.parametrize('norm_pix', [False, True])
def test_loss_equals_hand_computation(norm_pix):
    m = tiny_model(norm_pix_loss=norm_pix)
    imgs = tiny_images(batch=2)
    with torch.no_grad():
        loss, pred, mask = m(imgs)
        assert torch.equal(loss, m.forward_loss(imgs, pred, mask))
    num, den = 0.0, 0.0
    for b in range(2):
        for t in range(36):
            if mask[b, t] == 0:
                continue
            r, c = divmod(t, 6)
            patch = imgs[b, :, r * P:(r + 1) * P, c * P:(c + 1) * P].double()
            target = patch.permute(1, 2, 0).reshape(-1)  # (p, q, c)
            if norm_pix:
                mu = target.mean()
                var = ((target - mu)**2).sum() / (target.numel() - 1)
                target = (target - mu) / (var + 1e-6).sqrt()
            num += ((pred[b, t].double() - target)**2).mean().item()
            den += 1.0
    assert den == 2 * 27
    assert loss.item() == pytest.approx(num / den, rel=1e-5)


# ======================================================================================
# Gradients, input sizes, checkpoint
# ======================================================================================
def test_iam_scorer_and_pos_embeds_get_no_gradient():
    m = tiny_model().train()
    loss, _, _ = m(tiny_images(batch=2))
    loss.backward()
    assert m.patch_embed.proj.weight.grad is None
    assert m.patch_embed.proj.bias.grad is None
    assert m.pos_embed.grad is None and m.decoder_pos_embed.grad is None
    for p in (m.patch_embed1.proj.weight, m.blocks1[0].conv1.weight,
              m.blocks2[0].attn.weight, m.stage1_output_decode.weight,
              m.stage2_output_decode.weight, m.patch_embed4.weight,
              m.blocks3[1].attn.qkv.weight, m.mask_token,
              m.decoder_pred.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_other_input_sizes():
    m = tiny_model()  # built for 96
    with torch.no_grad():
        loss, pred, mask = m(tiny_images(batch=1, side=128))  # 8x8 = 64 tokens
        latent, _, _ = m.forward_encoder(tiny_images(
            batch=1, side=64))  # 4x4 = 16 tokens
    assert pred.shape == (1, 64,
                          768) and mask.sum() == 48 and torch.isfinite(loss)
    assert latent.shape == (1, 4, 16)
    with pytest.raises(AssertionError):
        m(tiny_images(batch=1, side=72))


def test_single_channel_variant():
    m = tiny_model(in_chans=1)
    with torch.no_grad():
        loss, pred, _ = m(tiny_images(batch=2, chans=1))
    assert pred.shape == (2, 36, 256) and torch.isfinite(loss)


@pytest.mark.filterwarnings('ignore:TypedStorage is deprecated')
@pytest.mark.parametrize('with_extras', [True, False])
def test_save_official_checkpoint_roundtrip(tmp_path, with_extras):
    src, dst = tiny_model(seed=0), tiny_model(seed=1)
    path = tmp_path / 'ckpt.pth'
    save_official_checkpoint(src, str(path), with_extras=with_extras)
    ckpt = torch.load(
        str(path), map_location='cpu', weights_only=not with_extras)
    if with_extras:
        assert set(ckpt) >= {'model', 'optimizer', 'epoch', 'args'}
        assert ckpt['epoch'] == 399
        assert isinstance(ckpt['args'], argparse.Namespace)
        assert ckpt['args'].model == 'infmae_vit_base_patch16'
        assert ckpt['args'].norm_pix_loss is False and ckpt['args'].blr == 1e-3
        with pytest.raises(
                Exception):  # an argparse.Namespace needs weights_only=False
            torch.load(str(path), map_location='cpu', weights_only=True)
    else:
        assert set(ckpt) == {'model'}
    dst.load_state_dict(ckpt['model'], strict=True)
    imgs = tiny_images(batch=1)
    with torch.no_grad():
        assert torch.equal(src(imgs)[1], dst(imgs)[1])
