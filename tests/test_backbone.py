"""Contract tests: every InfMAEViT arch must pass each of these."""
import pytest
import torch

from infmae_mm.models import InfMAEViT, select_tokens

ARCHS = sorted(
    {v['embed_dims']: k
     for k, v in InfMAEViT.arch_zoo.items() if len(k) > 1}.values())
SMALL_ARCHS = ['nano', 'tiny']


def build(arch, **kwargs):
    model = InfMAEViT(arch=arch, **kwargs)
    model.init_weights()
    return model.eval()


def random_iam(batch, num_tokens, stride=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return select_tokens(torch.rand(batch, num_tokens, generator=g), stride)


@pytest.mark.parametrize('arch', [
    pytest.param(a, marks=pytest.mark.slow) if a in ('base', 'large') else a
    for a in ARCHS
])
def test_arch_feature_and_masked_shapes(arch):
    model = build(arch)
    dims = model.embed_dims
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        f1, f2, f3 = model(x, mask=None)
        latent, mask, ids_restore = model(x, random_iam(1, 196))
    assert f1.shape == (1, dims[0], 56, 56)
    assert f2.shape == (1, dims[1], 28, 28)
    assert f3.shape == (1, dims[2], 14, 14)
    assert latent.shape == (1, 49, dims[2])
    assert mask.shape == ids_restore.shape == (1, 196)
    assert torch.isfinite(latent).all() and torch.isfinite(f3).all()


@pytest.mark.parametrize('arch', SMALL_ARCHS)
@pytest.mark.parametrize('size', [(224, 224), (96, 160), (480, 640)])
def test_any_multiple_of_16(arch, size):
    model = build(arch)
    h, w = size
    x = torch.randn(2, 3, h, w)
    n = (h // 16) * (w // 16)
    with torch.no_grad():
        f1, f2, f3 = model(x, mask=None)
        latent, _, _ = model(x, random_iam(2, n))
    assert f1.shape[2:] == (h // 4, w // 4)
    assert f2.shape[2:] == (h // 8, w // 8)
    assert f3.shape[2:] == (h // 16, w // 16)
    assert latent.shape == (2, n // 4, model.embed_dims[2])


def test_base_encoder_parameter_count():
    model = InfMAEViT(arch='base')
    assert sum(p.numel() for p in model.parameters()) == 84_605_824
    assert sum(v.numel() for v in model.state_dict().values()) == 84_605_824


def test_masked_one_channel_and_masks_only_from_iam():
    from infmae_mm.models import IAMMasking
    model = build('nano', in_channels=1)
    x = torch.randn(2, 1, 64, 64)
    latent, mask, _ = model(x, IAMMasking('intensity', in_channels=1)(x))
    assert latent.shape == (2, 4, 64) and mask.sum(1).eq(12).all()
    # The backbone computes no masks itself (masks come from the pipeline
    # or InfMAE.mask_generator).
    with pytest.raises(TypeError, match='IAMMask'):
        model(x, mask=True)
    with pytest.raises(TypeError, match='mask_cfg'):
        InfMAEViT(arch='nano', mask_cfg=dict(scorer='entropy'))


@pytest.mark.parametrize('size', [(225, 224), (224, 200), (8, 8)])
def test_sides_not_multiple_of_16_raise(size):
    model = build('nano')
    with pytest.raises(ValueError, match='multiples of 16'):
        model(torch.randn(1, 3, *size), mask=None)


def test_channel_mismatch_raises():
    model = build('nano', in_channels=3)
    with pytest.raises(ValueError, match='in_channels=3.*1-channel'):
        model(torch.randn(1, 1, 64, 64), mask=None)


def test_mask_for_other_size_raises():
    model = build('nano')
    with pytest.raises(ValueError, match='IAM mask has shape'):
        model(torch.randn(1, 3, 64, 64), random_iam(1, 196))


def test_bad_arch_and_out_indices():
    with pytest.raises(KeyError, match='arch zoo'):
        InfMAEViT(arch='gigantic')
    with pytest.raises(ValueError, match='out_indices'):
        InfMAEViT(arch='nano', out_indices=(3, ))


def test_fixed_pos_embed_is_rebuilt_exactly_for_new_grid():
    from infmae_mm.models.layers import sincos_pos_embed_2d
    model = build('nano', img_size=224)
    table = model.position_table((6, 10))
    assert torch.equal(table, sincos_pos_embed_2d(64, (6, 10)))
    assert not model.pos_embed.requires_grad
