"""Information-aware masking: counts, determinism, ordering, stage masks."""
import numpy as np
import pytest
import torch

from infmae_mm.datasets import IAMMaskGenerator
from infmae_mm.models import (IAMMasking, patch_scores, select_tokens,
                              upsample_token_mask)


def ir_like(seed, h=224, w=224, channels=3):
    rng = np.random.default_rng(seed)
    img = rng.normal(80, 10, (h, w)).clip(0, 255)
    for _ in range(5):  # warm blobs
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        yy, xx = np.ogrid[:h, :w]
        img += 120 * np.exp(-((yy - cy)**2 + (xx - cx)**2) / 300.)
    img = img.clip(0, 255).astype(np.uint8)
    return np.repeat(img[..., None], channels, 2) if channels > 1 else img


@pytest.mark.parametrize('scorer', ['intensity', 'entropy', 'random'])
@pytest.mark.parametrize('stride', [2, 4, 7])
def test_count_and_consistency(scorer, stride):
    out = IAMMaskGenerator(scorer=scorer, stride=stride)(dict(img=ir_like(0)))
    n = 196
    assert out['ids_keep'].shape == (n // stride, )
    assert out['mask'].shape == (14, 14)
    assert out['mask'].sum() == n - n // stride
    flat = out['mask'].reshape(-1)
    assert (flat[out['ids_keep']] == 0).all()
    # ids_restore un-shuffles cat([visible, masked]): visible token i goes
    # back to position ids_keep[i], the masked slots fill the rest.
    restore = out['ids_restore']
    assert sorted(restore) == list(range(n))
    np.testing.assert_array_equal(restore[out['ids_keep']],
                                  np.arange(n // stride))
    assert (restore[flat == 1] >= n // stride).all()


@pytest.mark.parametrize('scorer', ['intensity', 'entropy'])
def test_deterministic_for_an_image(scorer):
    gen = IAMMaskGenerator(scorer=scorer)
    a, b = gen(dict(img=ir_like(1))), gen(dict(img=ir_like(1)))
    np.testing.assert_array_equal(a['ids_keep'], b['ids_keep'])
    c = gen(dict(img=ir_like(2)))
    assert not np.array_equal(a['ids_keep'], c['ids_keep'])


def test_intensity_stride_ordering_matches_hand_ranking():
    img = ir_like(3)
    out = IAMMaskGenerator(scorer='intensity', stride=4)(dict(img=img))
    gray = img[..., 0].astype(np.float64)
    means = gray.reshape(14, 16, 14, 16).mean((1, 3)).reshape(-1)
    order = np.argsort(-means, kind='stable')
    np.testing.assert_array_equal(out['ids_keep'], order[::4])
    assert out['mask'].reshape(-1)[order[0]] == 0  # brightest visible
    assert (out['mask'].reshape(-1)[order[1:4]] == 1).all()


def test_top_selection_keeps_highest_scores():
    img = ir_like(4)
    out = IAMMaskGenerator(scorer='intensity', selection='top')(dict(img=img))
    means = img[..., 0].astype(float).reshape(14, 16, 14, 16).mean((1, 3))
    kept = means.reshape(-1)[out['ids_keep']]
    dropped = means.reshape(-1)[out['mask'].reshape(-1) == 1]
    assert kept.min() >= dropped.max()


def test_entropy_matches_hand_computation():
    img = ir_like(5, 32, 32, channels=1)
    scores = patch_scores(
        torch.from_numpy(img).float()[None, None], 'entropy',
        value_range=(0., 255.))
    for idx, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        patch = img[16 * r:16 * r + 16, 16 * c:16 * c + 16]
        p = np.bincount(patch.reshape(-1), minlength=256) / 256.
        p = p[p > 0]
        assert scores[0, idx].item() == pytest.approx(-(p * np.log2(p)).sum(),
                                                      abs=1e-5)
    flat = np.full((16, 16), 7, np.uint8)
    assert patch_scores(
        torch.from_numpy(flat).float()[None, None], 'entropy',
        value_range=(0., 255.)).item() == 0


def test_stage_masks_align_with_tokens():
    out = IAMMaskGenerator()(dict(img=ir_like(6, 96, 160)))
    token = out['mask']
    assert out['mask_stage1'].shape == (24, 40)
    assert out['mask_stage2'].shape == (12, 20)
    for factor, key in [(4, 'mask_stage1'), (2, 'mask_stage2')]:
        blocks = out[key].reshape(6, factor, 10, factor)
        assert (blocks == token[:, None, :, None]).all()


def test_in_model_intensity_equals_pipeline_on_normalised_input():
    # Distinct patch means, so that no tie can be broken differently by the
    # rounding of the normalisation.
    levels = np.random.default_rng(7).permutation(196) + 30
    gray = np.kron(levels.reshape(14, 14), np.ones((16, 16))).astype(np.uint8)
    img = np.repeat(gray[..., None], 3, 2)
    pipe = IAMMaskGenerator(scorer='intensity')(dict(img=img))
    x = (torch.from_numpy(img).permute(2, 0, 1).float()[None] - 108.375) / 51.
    iam = IAMMasking(scorer='intensity', descending=True)(x)
    np.testing.assert_array_equal(iam.ids_keep[0].numpy(), pipe['ids_keep'])
    assert pipe['ids_keep'][0] == np.argmax(levels)


def test_linear_scorer_is_one_filter():
    torch.manual_seed(0)
    masking = IAMMasking(scorer='linear', in_channels=3)
    x = torch.randn(2, 3, 64, 64)
    w_bar = masking.weight.mean(0)  # (3, 16, 16)
    patches = x.reshape(2, 3, 4, 16, 4, 16).permute(0, 2, 4, 1, 3, 5)
    expected = (patches * w_bar).sum((-3, -2, -1)).reshape(2, 16) + \
        masking.bias.mean()
    scores = patch_scores(x, 'linear', weight=masking.weight,
                          bias=masking.bias)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)


def test_upsample_token_mask():
    mask = torch.tensor([[1., 0., 0., 1., 1., 0.]])
    up = upsample_token_mask(mask, (2, 3), 2)
    assert up.shape == (1, 1, 4, 6)
    assert up[0, 0, 1, 1] == 1 and up[0, 0, 2, 5] == 0


def test_errors_are_clear():
    with pytest.raises(ValueError, match='does not divide'):
        IAMMaskGenerator(stride=3)(dict(img=ir_like(0)))
    with pytest.raises(ValueError, match='multiples of 16'):
        IAMMaskGenerator()(dict(img=ir_like(0, 100, 224)))
    with pytest.raises(ValueError, match='model.mask_generator'):
        IAMMaskGenerator(scorer='linear')
    with pytest.raises(ValueError, match='Unknown IAM scorer'):
        IAMMaskGenerator(scorer='variance')
    with pytest.raises(ValueError, match='Unknown IAM selection'):
        select_tokens(torch.rand(1, 16), 4, selection='bottom')
