"""Every pre-training config builds; the paper recipe holds its numbers."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from infmae_mm.evaluation.heldout import train_pipeline

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# UNIP configs (a frozen teacher, no masks): tests/test_unip_configs.py.
PRETRAIN_CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs/pretrain/*.py'))
    if not osp.basename(p).startswith('unip_'))
RECIPE = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py')


def load(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def iam_step(cfg):
    steps = [s for s in train_pipeline(cfg) if s['type'] == 'IAMMaskGenerator']
    return steps[0] if steps else None


@pytest.mark.slow
@pytest.mark.parametrize('path', PRETRAIN_CONFIGS, ids=osp.basename)
def test_config_builds(path):
    cfg = load(path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.backbone.check_input(torch.zeros(1, 3, 224, 224)) == (14, 14)
    has_pipeline_masks = iam_step(cfg) is not None
    assert has_pipeline_masks != (model.mask_generator is not None), \
        'exactly one source of masks per config'


def test_paper_recipe_values():
    cfg = load(RECIPE)
    assert cfg.train_cfg.max_epochs == 400
    schedule, = cfg.param_scheduler
    # 40 warm-up epochs of 400, cosine to 0 at the end of the run.
    assert (schedule.type, schedule.warmup_fraction * 400,
            schedule.eta_min) == ('WarmupCosineLR', 40, 0.)
    assert 'end' not in schedule  # follows train_cfg.max_epochs
    optim = cfg.optim_wrapper.optimizer
    assert (optim.type, optim.lr, optim.betas,
            optim.weight_decay) == ('AdamW', 1.5e-4, (0.9, 0.95), 0.05)
    assert cfg.train_dataloader.batch_size * 4 == 256
    assert cfg.auto_scale_lr.base_batch_size == 256
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert (crop.scale, crop.crop_ratio_range) == (224, (0.2, 1.0))
    assert iam_step(cfg)['stride'] == 4
    assert cfg.model.neck.decoder_depth == 2
    assert cfg.model.data_preprocessor.mean == [0.425 * 255] * 3
    assert cfg.model.data_preprocessor.std == [0.2 * 255] * 3


@pytest.mark.parametrize('name,check', [
    ('stride2', lambda cfg: iam_step(cfg)['stride'] == 2),
    ('stride7', lambda cfg: iam_step(cfg)['stride'] == 7),
    ('randommask', lambda cfg: iam_step(cfg)['scorer'] == 'random'),
    ('dec4', lambda cfg: cfg.model.neck.decoder_depth == 4),
    ('dec8', lambda cfg: cfg.model.neck.decoder_depth == 8),
    ('dec12', lambda cfg: cfg.model.neck.decoder_depth == 12),
])
def test_ablations_change_one_thing(name, check):
    path = RECIPE.replace('-p16_', f'-p16-{name}_')
    cfg, base = load(path), load(RECIPE)
    assert check(cfg)
    assert len(cfg.train_dataloader.dataset.pipeline) == len(
        base.train_dataloader.dataset.pipeline)
    assert cfg.optim_wrapper == base.optim_wrapper


def test_weight_decay_groups_follow_the_official_rule():
    """No decay exactly on 1-D tensors and biases (timm add_weight_decay)."""
    cfg = load(RECIPE)
    model = MODELS.build(cfg.model)
    wrapper_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')
    wrapper_cfg.pop('loss_scale')
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    decay_of = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay_of[id(p)] = group['weight_decay']
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        expected = 0. if p.ndim == 1 or name.endswith('.bias') else 0.05
        assert decay_of[id(p)] == pytest.approx(expected), name
