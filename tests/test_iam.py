"""Information-aware masking: counts, determinism, ordering, stage masks."""
import numpy as np
import pytest
import torch

from infmae_mm.datasets import IAMMaskGenerator
from infmae_mm.models import (IAM_MASK_KEY, IAMMasking, num_visible,
                              patch_scores, select_tokens, upsample_token_mask)


def masks_of(gen, img):
    """The one field the generator adds, as a dict of numpy arrays."""
    results = gen(dict(img=img))
    assert set(results) == {'img', IAM_MASK_KEY}
    return results[IAM_MASK_KEY]._asdict()


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
    out = masks_of(IAMMaskGenerator(scorer=scorer, stride=stride), ir_like(0))
    n = 196
    assert out['ids_keep'].shape == (n // stride, )
    assert out['mask'].shape == (n, )
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
    a, b = masks_of(gen, ir_like(1)), masks_of(gen, ir_like(1))
    np.testing.assert_array_equal(a['ids_keep'], b['ids_keep'])
    c = masks_of(gen, ir_like(2))
    assert not np.array_equal(a['ids_keep'], c['ids_keep'])


def test_intensity_stride_ordering_matches_hand_ranking():
    img = ir_like(3)
    out = masks_of(IAMMaskGenerator(scorer='intensity', stride=4), img)
    gray = img[..., 0].astype(np.float64)
    means = gray.reshape(14, 16, 14, 16).mean((1, 3)).reshape(-1)
    order = np.argsort(-means, kind='stable')
    np.testing.assert_array_equal(out['ids_keep'], order[::4])
    assert out['mask'].reshape(-1)[order[0]] == 0  # brightest visible
    assert (out['mask'].reshape(-1)[order[1:4]] == 1).all()


def test_top_selection_keeps_highest_scores():
    img = ir_like(4)
    out = masks_of(IAMMaskGenerator(scorer='intensity', selection='top'), img)
    means = img[..., 0].astype(float).reshape(14, 16, 14, 16).mean((1, 3))
    kept = means.reshape(-1)[out['ids_keep']]
    dropped = means.reshape(-1)[out['mask'].reshape(-1) == 1]
    assert kept.min() >= dropped.max()


def test_entropy_matches_hand_computation():
    img = ir_like(5, 32, 32, channels=1)
    scores = patch_scores(
        torch.from_numpy(img).float()[None, None],
        'entropy',
        value_range=(0., 255.))
    for idx, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        patch = img[16 * r:16 * r + 16, 16 * c:16 * c + 16]
        p = np.bincount(patch.reshape(-1), minlength=256) / 256.
        p = p[p > 0]
        assert scores[0, idx].item() == pytest.approx(
            -(p * np.log2(p)).sum(), abs=1e-5)
    flat = np.full((16, 16), 7, np.uint8)
    assert patch_scores(
        torch.from_numpy(flat).float()[None, None],
        'entropy',
        value_range=(0., 255.)).item() == 0


def test_stage_masks_align_with_tokens():
    out = masks_of(IAMMaskGenerator(), ir_like(6, 96, 160))
    token = torch.from_numpy(out['mask'])[None]
    for factor, shape in [(4, (24, 40)), (2, (12, 20))]:
        up = upsample_token_mask(token, (6, 10), factor)[0, 0]
        assert up.shape == shape
        blocks = up.reshape(6, factor, 10, factor)
        assert (blocks == token.reshape(6, 1, 10, 1)).all()


def test_in_model_intensity_equals_pipeline_on_normalised_input():
    # Distinct patch means, so that no tie can be broken differently by the
    # rounding of the normalisation.
    levels = np.random.default_rng(7).permutation(196) + 30
    gray = np.kron(levels.reshape(14, 14), np.ones((16, 16))).astype(np.uint8)
    img = np.repeat(gray[..., None], 3, 2)
    pipe = masks_of(IAMMaskGenerator(scorer='intensity'), img)
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
    scores = patch_scores(
        x, 'linear', weight=masking.weight, bias=masking.bias)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)


def test_upsample_token_mask():
    mask = torch.tensor([[1., 0., 0., 1., 1., 0.]])
    up = upsample_token_mask(mask, (2, 3), 2)
    assert up.shape == (1, 1, 4, 6)
    assert up[0, 0, 1, 1] == 1 and up[0, 0, 2, 5] == 0


def test_errors_are_clear():
    with pytest.raises(ValueError, match='multiples of 16'):
        IAMMaskGenerator()(dict(img=ir_like(0, 100, 224)))
    with pytest.raises(ValueError, match='model.mask_generator'):
        IAMMaskGenerator(scorer='linear')
    with pytest.raises(ValueError, match='Unknown IAM scorer'):
        IAMMaskGenerator(scorer='variance')
    with pytest.raises(ValueError, match='Unknown IAM selection'):
        select_tokens(torch.rand(1, 16), 4, selection='bottom')


@pytest.mark.parametrize('selection', ['stride', 'top'])
@pytest.mark.parametrize(
    'size,stride,expected',
    [
        ((224, 224), 4, 49),  # the paper's 25%
        ((304, 528), 4, 157),  # 627 tokens: ranks 0, 4, ..., 624
        ((224, 224), 3, 66),  # 196 tokens: ranks 0, 3, ..., 195
        ((96, 160), 7, 9),
    ])
def test_any_multiple_of_16_keeps_ceil_n_over_s(selection, size, stride,
                                                expected):
    img = ir_like(8, *size)
    out = masks_of(IAMMaskGenerator(stride=stride, selection=selection), img)
    n = (size[0] // 16) * (size[1] // 16)
    assert num_visible(n, stride) == expected == -(-n // stride)
    assert out['ids_keep'].shape == (expected, )
    assert out['mask'].sum() == n - expected
    assert sorted(out['ids_restore']) == list(range(n))
    means = img[..., 0].astype(float).reshape(size[0] // 16, 16, size[1] // 16,
                                              16).mean((1, 3))
    order = np.argsort(-means.reshape(-1), kind='stable')
    kept = order[::stride] if selection == 'stride' else order[:expected]
    np.testing.assert_array_equal(out['ids_keep'], kept)


def test_registered_scorer_runs_through_the_same_selection():
    from infmae_mm.models.masking import PATCH_SCORERS, register_scorer

    @register_scorer('test_column')
    def column_scores(images, patch_size, **kwargs):
        B, _, H, W = images.shape
        cols = torch.arange(W // patch_size, dtype=torch.float)
        return cols.repeat(H // patch_size).expand(B, -1)

    try:
        out = masks_of(
            IAMMaskGenerator(scorer='test_column', stride=4, selection='top'),
            ir_like(0, 64, 64))
        # descending: the right-most column (index 3 in each row) is visible
        np.testing.assert_array_equal(np.sort(out['ids_keep']), [3, 7, 11, 15])
        with pytest.raises(KeyError, match='already registered'):
            register_scorer('intensity')(column_scores)
    finally:
        PATCH_SCORERS.pop('test_column')


def test_documented_effect_of_stride_and_top_on_hot_patches():
    """What the README says: the paper's stride selection keeps about 1 / S
    of the hottest patches visible (like random masking), ``top`` keeps all
    of them (when they are fewer than N / S)."""
    from infmae_mm.testing import make_ir_image
    rng = np.random.default_rng(0)
    shares = {'stride': [], 'top': []}
    for _ in range(12):
        img = np.repeat(make_ir_image(rng, 224, 224)[..., None], 3, 2)
        means = img[..., 0].astype(float).reshape(14, 16, 14, 16).mean(
            (1, 3)).reshape(-1)
        hottest = np.argsort(-means, kind='stable')[:20]  # top 10%
        for selection in shares:
            out = masks_of(IAMMaskGenerator(selection=selection), img)
            shares[selection].append((out['mask'][hottest] == 0).mean())
    assert np.mean(shares['top']) == 1.
    assert abs(np.mean(shares['stride']) - 0.25) <= 0.05
