"""Mmpretrain's model APIs on the package's configs (issue 14).

``list_models`` / ``get_model`` / ``FeatureExtractor`` / ``inference_model``
are mmpretrain's own functions; importing ``infmae_mm`` registers the
pre-training and classification configs through ``model-index.yml``. Results
are compared with a forward pass written out here (normalisation by hand,
then the backbone / head).
"""
import glob
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
import yaml
from mmengine.registry import DefaultScope
from mmpretrain import (FeatureExtractor, get_model, inference_model,
                        list_models)
from PIL import Image

import infmae_mm
from infmae_mm.apis import find_index_root, register_model_index
from infmae_mm.testing import make_ir_image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Mmpretrain's APIs build in the current default scope: make it
    mmpretrain's whatever an earlier test (a mmseg Runner) left."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


PRETRAIN_TINY = 'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample'
CLS_FINETUNE = 'infmae_vit-base-p16_inf30-pre_8xb128-coslr-100e_in1k-gray'
IR_MEAN, IR_STD = 0.425 * 255, 0.200 * 255


def config_names(family):
    """Names of the leaf configs under ``configs/<family>`` (any depth)."""
    return {
        osp.basename(p)[:-3]
        for p in glob.glob(
            osp.join(REPO, 'configs', family, '**', '*.py'), recursive=True)
        if f'{osp.sep}_base_{osp.sep}' not in p
    }


def test_every_pretraining_and_classification_config_is_listed():
    expected = config_names('pretrain') | config_names('cls')
    assert len(expected) >= 13
    assert expected <= set(list_models())
    assert set(list_models('*infmae*')) == {
        name
        for name in expected if 'infmae' in name
    }
    # The root index imports the metafiles that were registered.
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert {'configs/pretrain/metafile.yml', 'configs/cls/metafile.yml'
            } <= set(imports)


def test_registration_is_idempotent_and_finds_the_checkout():
    assert find_index_root() == REPO
    assert register_model_index() == []  # done at import already
    assert infmae_mm.apis.model_index._registered_root == REPO


def checkpoint_of(model, path):
    """Save ``model`` with its weights shifted, so that loading shows."""
    torch.manual_seed(1)
    state = {
        k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    torch.save({'state_dict': state, 'meta': {}}, path)
    return state


def test_get_model_loads_a_local_checkpoint(tmp_path):
    path = str(tmp_path / 'tiny.pth')
    state = checkpoint_of(get_model(PRETRAIN_TINY), path)
    model = get_model(PRETRAIN_TINY, pretrained=path)
    assert type(model).__name__ == 'InfMAE'
    assert model.backbone.embed_dims == (64, 96, 192)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def gray_image(size=224, seed=0):
    return make_ir_image(np.random.default_rng(seed), size, size)


def by_hand(img):
    """(1, 3, H, W) float tensor normalised with the infrared statistics."""
    x = torch.from_numpy(np.repeat(img[None].astype(np.float32), 3, 0))
    return ((x - IR_MEAN) / IR_STD)[None]


def test_feature_extractor_on_a_pretraining_config(tmp_path):
    path = str(tmp_path / 'tiny.pth')
    checkpoint_of(get_model(PRETRAIN_TINY), path)
    img = gray_image()
    file = str(tmp_path / 'ir.png')
    cv2.imwrite(file, img)
    extractor = FeatureExtractor(PRETRAIN_TINY, pretrained=path, device='cpu')
    with torch.no_grad():
        expected = extractor.model.backbone(by_hand(img), mask=None)
    # An image path and an array (BGR, as mmcv reads it) give F1-F3.
    for inputs in (file, np.repeat(img[..., None], 3, 2)):
        feats = extractor(inputs)[0]
        assert [tuple(f.shape) for f in feats] == [(64, 56, 56), (96, 28, 28),
                                                   (192, 14, 14)]
        for f, e in zip(feats, expected):
            torch.testing.assert_close(f, e[0], atol=1e-4, rtol=1e-4)
    f3 = extractor(file, stage='F3')[0]
    torch.testing.assert_close(f3, expected[2][0], atol=1e-4, rtol=1e-4)
    pooled = extractor(file, stage='pooled')[0]
    torch.testing.assert_close(
        pooled, expected[2][0].mean((1, 2)), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="stage='backbone'"):
        extractor(file, stage='neck')


def test_classification_config_inference_and_features(tmp_path):
    tiny = dict(
        backbone=dict(arch='tiny', init_cfg=None), head=dict(in_channels=192))
    path = str(tmp_path / 'cls.pth')
    checkpoint_of(get_model(CLS_FINETUNE, **tiny), path)
    img = gray_image(seed=3)
    file = str(tmp_path / 'ir.png')
    cv2.imwrite(file, img)

    model = get_model(CLS_FINETUNE, pretrained=path, **tiny)
    result = inference_model(model, file)
    # The test pipeline resizes the short side to 256 (pillow bicubic) and
    # crops the centre 224.
    resized = np.asarray(
        Image.fromarray(img).resize((256, 256), Image.BICUBIC))
    crop = resized[16:240, 16:240]
    with torch.no_grad():
        pooled = model.backbone(by_hand(crop))
        assert tuple(pooled[0].shape) == (1, 192)
        scores = model.head(pooled).softmax(-1)[0]
    assert len(result['pred_scores']) == 1000
    assert result['pred_label'] == int(scores.argmax())
    np.testing.assert_allclose(
        result['pred_scores'], scores.numpy(), atol=1e-4)

    # Multi-scale features from the classification config, as mmpretrain's
    # docs show for ResNet: ask the backbone for all three maps.
    extractor = FeatureExtractor(
        CLS_FINETUNE,
        pretrained=path,
        device='cpu',
        backbone=dict(
            arch='tiny',
            init_cfg=None,
            out_indices=(0, 1, 2),
            out_type='featmap'),
        head=dict(in_channels=192))
    feats = extractor(file, stage='backbone')[0]
    assert [tuple(f.shape) for f in feats] == [(64, 56, 56), (96, 28, 28),
                                               (192, 14, 14)]


def metafile_models(family):
    with open(osp.join(REPO, 'configs', family, 'metafile.yml')) as f:
        return yaml.safe_load(f)['Models']


@pytest.mark.parametrize('family', ['pretrain', 'cls'])
def test_metafile_metadata_matches_the_configs(family):
    """Epochs and total batch in the metafiles are the configs' values."""
    from mmengine.config import Config
    models = metafile_models(family)
    assert {m['Name'] for m in models} == config_names(family)
    for entry in models:
        cfg = Config.fromfile(osp.join(REPO, entry['Config']))
        meta = entry['Metadata']
        assert cfg.train_cfg.max_epochs == meta['Epochs'], entry['Name']
        gpus = int(re.search(r'_(\d+)xb\d+', entry['Name']).group(1))
        accumulate = cfg.optim_wrapper.get('accumulative_counts', 1)
        assert gpus * cfg.train_dataloader.batch_size * accumulate == \
            meta['Batch Size'], entry['Name']


def test_linear_probe_config_freezes_the_encoder():
    model = get_model(
        'infmae_vit-base-p16_inf30-pre_8xb2048-linear-coslr-90e_in1k-gray',
        backbone=dict(arch='tiny', init_cfg=None),
        neck=dict(input_features=192),
        head=dict(in_channels=192))
    model.train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert not any(m.training for m in model.backbone.modules()
                   if m is not model.backbone)
    assert all(p.requires_grad for p in model.head.parameters())
    x = torch.randn(2, 3, 64, 64)
    assert model(x, mode='tensor').shape == (2, 1000)


def test_pretraining_config_test_loop_runs_on_held_out_images(tmp_path):
    """The test loop that FeatureExtractor's pipeline comes from also runs:

    ``mim test`` on a pre-training config measures held-out reconstruction.
    """
    from mmengine.config import Config
    from mmengine.runner import Runner
    rng = np.random.default_rng(0)
    (tmp_path / 'heldout').mkdir()
    for i in range(2):
        cv2.imwrite(
            str(tmp_path / 'heldout' / f'{i}.png'),
            make_ir_image(rng, 240, 256))
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'pretrain', f'{PRETRAIN_TINY}.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.test_dataloader.dataset.data_root = str(tmp_path / 'heldout')
    cfg.test_dataloader.num_workers = 0
    metrics = Runner.from_cfg(cfg).test()
    for fill in ('model', 'visible_mean', 'row_mean', 'inpaint'):
        assert np.isfinite(metrics[f'recon/iam/{fill}_mse'])
