"""Mmpretrain's FeatureExtractor on the UNIP pre-training configs (issue 22).

``FeatureExtractor(CONFIG)`` builds its image pipeline from
``test_dataloader.dataset.pipeline`` (configs/pretrain/_base_/
unip_feature_extraction.py): a gray array is made 3 identical channels,
resized (short side 224, pillow bicubic) and centre-cropped; the student's
data preprocessor normalises it with the InfMix statistics and the features
are the student's. The student builds without the teacher's file; the
teacher is shrunk here (its head count kept, which the student's last block
must match) so that nothing large is built.
"""
import glob
import os.path as osp
import warnings

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain import FeatureExtractor
from mmpretrain.models import VisionTransformer
from PIL import Image

import infmae_mm  # noqa: F401  (registers the package's modules)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
UNIP_CONFIGS = sorted(
    osp.basename(p)
    for p in glob.glob(osp.join(REPO, 'configs', 'pretrain', 'unip_*.py')))
UNIP_MEAN, UNIP_STD = 0.3801 * 255, 0.1871 * 255


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def test_every_unip_pretraining_config_is_covered():
    assert len(UNIP_CONFIGS) >= 5


def small_teacher(teacher):
    """The config's teacher at 16 channels per head, as many heads."""
    arch = teacher.vit.arch
    heads = (
        arch['num_heads'] if isinstance(arch, dict) else
        VisionTransformer.arch_zoo[arch]['num_heads'])
    return dict(
        vit=dict(
            arch=dict(
                _delete_=True,
                embed_dims=16 * heads,
                num_layers=teacher.layer,
                num_heads=heads,
                feedforward_channels=32 * heads)),
        checkpoint='no_such_dir/teacher.pth')


def tiny_extractor(path: str) -> FeatureExtractor:
    """FeatureExtractor of a UNIP config with the tiny student and a small
    teacher (no teacher file)."""
    cfg = Config.fromfile(path)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', 'The student builds without it')
        warnings.filterwarnings('ignore', '.*teacher.*')
        return FeatureExtractor(
            path,
            device='cpu',
            backbone=dict(arch='tiny'),
            teacher=small_teacher(cfg.model.teacher))


def by_hand(gray):
    """(1, 3, 224, 224): resized, cropped, replicated and normalised."""
    h, w = gray.shape
    short = 224
    size = (short, round(short * w / h)) if h <= w else (round(short * h / w),
                                                         short)
    resized = np.asarray(
        Image.fromarray(gray).resize(size[::-1], Image.BICUBIC))
    top = (resized.shape[0] - 224) // 2
    left = (resized.shape[1] - 224) // 2
    crop = resized[top:top + 224, left:left + 224].astype(np.float32)
    x = torch.from_numpy(np.repeat(crop[None], 3, 0))
    return ((x - UNIP_MEAN) / UNIP_STD)[None]


@pytest.mark.parametrize('config', UNIP_CONFIGS)
def test_feature_extractor_on_a_unip_config(config):
    path = osp.join(REPO, 'configs', 'pretrain', config)
    cfg = Config.fromfile(path)
    # The APIs' pipeline: the loading step (dropped by FeatureExtractor),
    # gray, resize, crop, pack; no mask, no training augmentation.
    steps = [step.type for step in cfg.test_dataloader.dataset.pipeline]
    assert steps == [
        'LoadImageFromFile', 'ConvertToGray', 'ResizeEdge', 'CenterCrop',
        'PackInputs'
    ]
    extractor = tiny_extractor(path)
    model = extractor.model
    assert type(model).__name__ == 'UNIP'
    assert model.backbone.embed_dims == 192

    gray = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    feats = extractor(gray)[0]
    with torch.no_grad():
        expected = model.backbone(by_hand(gray))
    assert isinstance(feats, tuple) and len(feats) == len(expected)
    for f, e in zip(feats, expected):
        assert tuple(f.shape) == tuple(e.shape[1:])
        assert torch.isfinite(f).all()
        torch.testing.assert_close(f, e[0], atol=1e-4, rtol=1e-4)


def test_testing_a_unip_config_says_what_to_do_instead():
    """``mim test`` on a UNIP config used to end in mmpretrain's 'Invalid mode
    "predict"'."""
    extractor = tiny_extractor(
        osp.join(REPO, 'configs', 'pretrain', UNIP_CONFIGS[0]))
    with pytest.raises(NotImplementedError, match='FeatureExtractor'):
        extractor.model(torch.zeros(1, 3, 224, 224), mode='predict')
    feats = extractor.model(torch.zeros(1, 3, 224, 224), mode='tensor')
    assert torch.isfinite(feats[-1]).all()
