"""UNIP's pre-training and fine-tuning configs build and hold the recipes."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tests.host_tools import REPO

# Builds ViT-L teachers and every full-size config.
pytestmark = pytest.mark.slow

PRETRAIN = sorted(glob.glob(osp.join(REPO, 'configs/pretrain/unip_*.py')))
SEG = sorted(glob.glob(osp.join(REPO, 'configs/seg/unip_*.py')))
# (student dims, teacher arch, teacher layer, heads, per-GPU batch, accum)
RECIPES = {
    'unip_vit-tiny-p16_mae-large-l18': (192, 'large', 18, 16, 256, 8),
    'unip_vit-small-p16_mae-large-l18': (384, 'large', 18, 16, 256, 8),
    'unip_vit-base-p16_mae-large-l18': (768, 'large', 18, 16, 128, 16),
    'unip_vit-small-p16_ibot-large-l21': (384, 'large', 21, 16, 256, 8),
    'unip_vit-small-p16_dino-base-l9': (384, 'base', 9, 12, 256, 8),
}
# dataset type, classes, iterations, warm-up, validation interval
SEG_RECIPES = {
    'soda-512x512': ('SODADataset', 21, 14400, 1500, 800),
    'mfnet-t-512x512': ('MFNetThermalDataset', 9, 9800, 1000, 700),
    'scut-seg-512x512': ('SCUTSegDataset', 10, 16800, 1700, 800),
    'msrs-inf-480x640': ('MSRSInfDataset', 9, 24000, 1500, 2400),
}


def test_every_unip_config_has_a_recipe():
    assert {osp.basename(p).split('_2x')[0] for p in PRETRAIN} == set(RECIPES)
    assert len(SEG) == 5


@pytest.mark.parametrize('path', PRETRAIN, ids=osp.basename)
def test_pretrain_config_builds_with_the_released_recipe(path):
    from mmpretrain.registry import MODELS
    name = osp.basename(path).split('_2x')[0]
    dims, arch, layer, heads, batch, accum = RECIPES[name]
    cfg = Config.fromfile(path)
    assert cfg.model.teacher.checkpoint.startswith('checkpoints/')
    assert cfg.model.teacher.vit.arch == arch
    assert cfg.model.teacher.layer == layer
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.model.head.temperature == 1.0
    assert cfg.model.data_preprocessor.mean == [0.3801 * 255] * 3
    assert cfg.model.data_preprocessor.std == [0.1871 * 255] * 3
    ow = cfg.optim_wrapper
    assert cfg.train_dataloader.batch_size * 2 * ow.accumulative_counts == \
        4096 and (cfg.train_dataloader.batch_size, ow.accumulative_counts) \
        == (batch, accum)
    assert ow.type == 'AmpOptimWrapper' and 'clip_grad' not in ow
    assert ow.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert ow.optimizer.betas == (0.9, 0.95)
    assert ow.optimizer.weight_decay == 0.05
    assert cfg.train_cfg.max_epochs == 100
    (sched, ) = cfg.param_scheduler
    assert sched.warmup_fraction * 100 == pytest.approx(5)
    assert sched.eta_min == 0
    assert cfg.model_wrapper_cfg.find_unused_parameters
    steps = [
        t['type'] for t in cfg.train_dataloader.dataset.datasets[0]['pipeline']
    ]
    assert steps == [
        'LoadThermalImage', 'ConvertToGray', 'RandomResizedCrop', 'RandomFlip',
        'PackInputs'
    ]
    crop = cfg.train_pipeline[2]
    assert (crop.scale, crop.crop_ratio_range,
            crop.interpolation) == (224, (0.2, 1.0), 'bicubic')
    # Build it with a random teacher (the file is not needed for this).
    cfg.model.teacher.checkpoint = None
    init_default_scope('mmpretrain')
    with pytest.warns(UserWarning, match='random'):
        model = MODELS.build(cfg.model)
    assert model.backbone.embed_dims == dims
    assert model.backbone.layers[-1].attn.num_heads == heads
    assert model.teacher.num_heads == heads
    assert len(model.teacher.vit.layers) == layer
    # timm's weight-decay groups: no decay on 1-D tensors and biases, the
    # cls token decayed, the fixed position table not trained.
    optim = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            optimizer=ow.optimizer,
            constructor=ow.constructor,
            paramwise_cfg=ow.paramwise_cfg))
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optim.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert n == 'backbone.pos_embed'
            continue
        no_decay = p.ndim <= 1 or n.endswith('.bias')
        assert decay[n] == (0. if no_decay else 0.05), n
    assert decay['backbone.cls_token'] == 0.05


def test_missing_teacher_file_names_the_config_key():
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(PRETRAIN[0])
    init_default_scope('mmpretrain')
    # the student builds without the teacher file (features, inference),
    # with a warning naming the key; the loss then fails naming it too
    # (tests/test_config_keys.py)
    with pytest.warns(UserWarning, match='model.teacher.checkpoint'):
        MODELS.build(cfg.model)


@pytest.mark.parametrize('path', SEG, ids=osp.basename)
def test_seg_config_builds_with_unip_schedule(path):
    from mmseg.registry import DATASETS, MODELS
    key = osp.basename(path)[:-3].split('_')[-1]
    dataset, classes, iters, warmup, val = SEG_RECIPES[key]
    cfg = Config.fromfile(path)
    assert cfg.train_dataloader.dataset.type == dataset
    assert len(DATASETS.get(dataset).METAINFO['classes']) == classes
    assert cfg.model.decode_head.num_classes == classes
    assert cfg.train_cfg.max_iters == iters
    assert cfg.train_cfg.val_interval == val
    (sched, ) = cfg.param_scheduler  # follows max_iters: no end
    assert (sched.type, sched.decay_begins) == ('WarmupPolyLR', 'at_begin')
    assert 'end' not in sched
    assert round(sched.warmup_fraction * iters) == warmup
    assert cfg.model.backbone.type == 'mmpretrain.VisionTransformer'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    assert not cfg.model.backbone.final_norm
    linear = 'linear' in osp.basename(path)
    if linear:
        assert cfg.model.backbone.frozen_stages == 12
        assert 'constructor' not in cfg.optim_wrapper
    else:
        assert cfg.model.neck.type == 'LastLayerFPN'
        assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.85
        assert cfg.model.auxiliary_head.in_index == 2
        assert cfg.model.auxiliary_head.loss_decode.loss_weight == 0.4
    if key.endswith('512x512'):
        assert cfg.model.test_cfg == dict(
            mode='slide', crop_size=(512, 512), stride=(341, 341))
    assert cfg.model.data_preprocessor.mean == [96.9255] * 3
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.img_size = 64
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64), mode='tensor')
    # Logits at the head's stride: 4 (UperNet on LL-FPN) or 16 (linear).
    side = 4 if linear else 16
    assert out.shape == (1, classes, side, side)
