"""The InfMAE algorithm: losses, masks from either source, learning."""
import copy

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from infmae_mm.datasets import IAMMaskGenerator
from infmae_mm.models.masking import IAM_MASK_KEY
from infmae_mm.testing import make_ir_image

NANO = dict(
    type='InfMAE',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[108.375] * 3,
        std=[51.] * 3,
        to_rgb=False),
    backbone=dict(type='InfMAEViT', arch='nano', img_size=64),
    neck=dict(
        type='InfMAEPretrainDecoder',
        embed_dim=64,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=2,
        grid_size=4),
    head=dict(type='InfMAEReconstructionHead', in_channels=3))


def build(cfg=NANO, **overrides):
    cfg = copy.deepcopy(cfg)
    for key, value in overrides.items():
        cfg[key] = value if not isinstance(value, dict) or key not in cfg \
            else {**cfg[key], **value}
    init_default_scope('mmpretrain')  # other tests may leave mmseg's scope
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def make_batch(model, num=4, size=(64, 64), channels=3, seed=0, **iam_kw):
    rng = np.random.default_rng(seed)
    gen = IAMMaskGenerator(**iam_kw)
    inputs, samples = [], []
    for _ in range(num):
        img = np.repeat(make_ir_image(rng, *size)[..., None], channels, 2)
        results = gen(dict(img=img))
        sample = DataSample()
        sample.set_field(results[IAM_MASK_KEY], IAM_MASK_KEY)
        inputs.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
        samples.append(sample)
    return model.data_preprocessor(
        dict(inputs=torch.stack(inputs), data_samples=samples))


def test_loss_from_pipeline_masks_matches_manual_computation():
    model = build()
    data = make_batch(model)
    loss = model(**data, mode='loss')['loss']
    assert loss.ndim == 0 and torch.isfinite(loss)
    # Recompute: MSE per patch, averaged over masked patches only.
    iam = model.compute_masks(data['inputs'], data['data_samples'])
    latent, mask, ids_restore = model.backbone(data['inputs'], iam,
                                               model.stage_fusion)
    pred = model.neck(latent, ids_restore, (4, 4))
    torch.testing.assert_close(mask, iam.mask)
    target = model.head.patchify(data['inputs'])
    per_patch = ((pred - target)**2).mean(-1)
    expected = (per_patch * mask).sum() / mask.sum()
    torch.testing.assert_close(loss, expected)


def test_missing_masks_raise_clear_error():
    model = build()
    data = make_batch(model)
    with pytest.raises(ValueError, match='IAMMaskGenerator'):
        model(data['inputs'], [DataSample() for _ in range(4)], mode='loss')


def test_in_model_linear_masks_need_no_pipeline():
    model = build(mask_generator=dict(scorer='linear'))
    assert set(model.mask_generator.state_dict()) == {'weight', 'bias'}
    data = make_batch(model)
    loss = model(
        data['inputs'], [DataSample() for _ in range(4)], mode='loss')['loss']
    assert torch.isfinite(loss)


def test_extract_feat_and_reconstruct_shapes():
    model = build()
    data = make_batch(model, size=(64, 96))
    f1, f2, f3 = model(data['inputs'], mode='tensor')
    assert f1.shape == (4, 32, 16, 24) and f3.shape == (4, 64, 4, 6)
    out = model.reconstruct(data['inputs'], data['data_samples'])
    assert out['pred'].shape == out['target'].shape == (4, 3, 64, 96)
    assert out['mask'].shape == (4, 1, 64, 96)
    assert out['mask'].mean().item() == pytest.approx(0.75)


def test_single_channel_model_and_norm_pix():
    model = build(
        data_preprocessor=dict(mean=[108.375], std=[51.]),
        backbone=dict(in_channels=1),
        neck=dict(in_channels=1),
        head=dict(in_channels=1, norm_pix=True))
    data = make_batch(model, channels=1)
    assert data['inputs'].shape[1] == 1
    assert torch.isfinite(model(**data, mode='loss')['loss'])


def test_without_stage_fusion():
    model = build(stage_fusion=None)
    assert model.stage_fusion is None
    assert torch.isfinite(model(**make_batch(model), mode='loss')['loss'])


@pytest.mark.slow
def test_loss_decreases_over_a_short_run():
    torch.manual_seed(0)
    model = build()
    data = make_batch(model, num=8, seed=1)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = model(**data, mode='loss')['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    # Every trainable parameter received a gradient (no unused parameters).
    unused = [
        n for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not unused


def test_full_frame_whose_token_count_the_stride_does_not_divide():
    """304x528 has 19 x 33 = 627 tokens, not divisible by the stride 4: every
    image keeps ceil(627 / 4) = 157 visible tokens, so the batch stacks."""
    model = build()
    data = make_batch(model, num=2, size=(304, 528))
    iam = model.compute_masks(data['inputs'], data['data_samples'])
    assert iam.ids_keep.shape == (2, 157) and iam.mask.shape == (2, 627)
    loss = model(**data, mode='loss')['loss']
    assert torch.isfinite(loss)
    out = model.reconstruct(data['inputs'], data['data_samples'])
    assert out['mask'].mean().item() == pytest.approx(1 - 157 / 627)
