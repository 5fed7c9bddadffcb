"""DuGI-MAE configs: recipes, ablations, mim train, downstream loading."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from infmae_mm.testing import (as_cfg_options, tiny_arch_options,
                               write_pretrain_folder)
from tests.host_tools import REPO, run, write_config

PRETRAIN = osp.join(REPO, 'configs/pretrain')
PAPER = osp.join(
    PRETRAIN, 'dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-400e_inf590k.py')
CODE = osp.join(PRETRAIN,
                'dugi-mae_vit-base-p16-code_4xb64-amp-coslr-150e_inf590k.py')
MAE_DDG = osp.join(
    PRETRAIN,
    'dugi_on_mae/dugi-ddg_mae_vit-base-p16_4xb64-amp-coslr-400e_inf590k.py')
INFMAE_DDG = osp.join(
    PRETRAIN, 'dugi-ddg_infmae_vit-base-p16_4xb64-amp-coslr-400e_inf590k.py')
DUGI_CONFIGS = sorted(glob.glob(osp.join(PRETRAIN, 'dugi*.py'))) + [MAE_DDG]


def variant(base: str, name: str) -> str:
    return base.replace('-p16-paper_',
                        f'-p16-paper-{name}_').replace('-p16-code_',
                                                       f'-p16-code-{name}_')


def iam_step(cfg):
    steps = [
        s for s in cfg.train_dataloader.dataset.pipeline
        if s['type'] == 'IAMMaskGenerator'
    ]
    return steps[0] if steps else None


def test_paper_recipe():
    cfg = Config.fromfile(PAPER)
    assert cfg.train_cfg.max_epochs == 400
    schedule, = cfg.param_scheduler
    assert schedule.warmup_fraction * 400 == pytest.approx(40)
    optim = cfg.optim_wrapper.optimizer
    assert (optim.type, optim.lr, optim.weight_decay) == ('AdamW', 1.5e-4,
                                                          0.05)
    assert cfg.train_dataloader.batch_size * 4 == 96
    assert cfg.auto_scale_lr.base_batch_size == 96
    assert dict(iam_step(cfg)) == dict(
        type='IAMMaskGenerator',
        scorer='entropy',
        stride=4,
        selection='top',
        descending=True)
    guidance = cfg.model.neck.guidance
    assert (guidance.domain, guidance.downsample, guidance.fusion.type,
            guidance.afdm_input) == ('image', 'visible', 'DDGGuidedAttention',
                                     'full')
    assert cfg.model.get('mask_generator') is None


def test_code_recipe():
    cfg = Config.fromfile(CODE)
    assert cfg.train_cfg.max_epochs == 150
    schedule, = cfg.param_scheduler
    assert schedule.warmup_fraction * 150 == pytest.approx(40)
    assert schedule.eta_min == 0.
    optim = cfg.optim_wrapper.optimizer
    assert (optim.lr, optim.betas, optim.weight_decay) == (1e-3, (0.9, 0.95),
                                                           0.05)
    assert cfg.train_dataloader.batch_size * 4 == 256
    assert iam_step(cfg) is None
    assert dict(cfg.model.mask_generator) == dict(
        scorer='embedding_entropy',
        stride=4,
        selection='top',
        descending=False)
    guidance = cfg.model.neck.guidance
    assert (guidance.domain, guidance.downsample, guidance.fusion.type,
            guidance.afdm.gate, guidance.afdm_input) == ('embedding', 'conv',
                                                         'DDGThreeBranch',
                                                         True, 'full')


@pytest.mark.parametrize('base', [PAPER, CODE], ids=['paper', 'code'])
def test_leakfree_variant_changes_only_the_afdm_input(base):
    cfg = Config.fromfile(variant(base, 'leakfree'))
    ref = Config.fromfile(base)
    assert cfg.model.neck.guidance.afdm_input == 'visible'
    cfg.model.neck.guidance.afdm_input = 'full'
    assert cfg.model == ref.model
    assert cfg.train_dataloader == ref.train_dataloader


@pytest.mark.parametrize('name,scorer', [('randommask', 'random'),
                                         ('graymask', 'intensity')])
def test_table5_masking_ablations_change_only_the_masking(name, scorer):
    cfg, ref = Config.fromfile(variant(PAPER, name)), Config.fromfile(PAPER)
    assert iam_step(cfg)['scorer'] == scorer
    steps = [s for s in cfg.train_dataloader.dataset.pipeline]
    ref_steps = [s for s in ref.train_dataloader.dataset.pipeline]
    assert [s['type'] for s in steps] == [s['type'] for s in ref_steps]
    assert [s for s in steps if s['type'] != 'IAMMaskGenerator'
            ] == [s for s in ref_steps if s['type'] != 'IAMMaskGenerator']
    assert cfg.model == ref.model and cfg.optim_wrapper == ref.optim_wrapper


def test_table6_configs_add_the_paper_bridge():
    infmae = Config.fromfile(INFMAE_DDG)
    base = Config.fromfile(
        osp.join(PRETRAIN,
                 'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'))
    assert infmae.model.neck.type == 'DuGIPretrainDecoder'
    assert iam_step(infmae) == iam_step(base)
    assert infmae.optim_wrapper.optimizer == base.optim_wrapper.optimizer
    mae = Config.fromfile(MAE_DDG)
    assert mae.model.type == 'MAEWithDDG'
    assert mae.model.backbone.type == 'MAEViT'
    assert mae.model.guidance.fusion.type == 'DDGGuidedAttention'


def test_mae_with_ddg_trains_every_parameter():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(MAE_DDG)
    cfg.model.backbone.arch = dict(
        embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)
    cfg.model.backbone.img_size = 64
    cfg.model.neck.update(
        embed_dim=64,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=2,
        num_patches=16)
    cfg.model.guidance.fusion.num_heads = 2
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    loss = model.loss(torch.randn(2, 3, 64, 64), [])['loss']
    loss.backward()
    dead = [
        n for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert dead == [] and torch.isfinite(loss)


# ------------------------------------------------------------ mim train
def tiny_options(config: str) -> list:
    if config == MAE_DDG:
        return [
            'model.backbone.arch=deit-tiny', 'model.neck.embed_dim=192',
            'model.neck.decoder_embed_dim=32', 'model.neck.decoder_depth=1',
            'model.neck.decoder_num_heads=2',
            'model.guidance.fusion.num_heads=2'
        ]
    return as_cfg_options(tiny_arch_options(
        Config.fromfile(config))) + ['model.neck.guidance.fusion.num_heads=2']


@pytest.fixture(scope='module')
def sample_folder(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ir_sample'))
    write_pretrain_folder(root, num_images=8, size=(160, 192))
    return root


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize('config', DUGI_CONFIGS, ids=osp.basename)
def test_mim_train_each_dugi_config(config, sample_folder, tmp_path):
    """Every DuGI config trains with mim on generated images (nano widths,
    fp32: AMP needs a GPU)."""
    fp32 = write_config(
        str(tmp_path / 'fp32.py'), config, '''
_opt = dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05)
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=_opt)
auto_scale_lr = dict(enable=False)
resume = False
''')
    work = tmp_path / 'work'
    run([
        'mim', 'train', 'mmpretrain', fp32, '--work-dir',
        str(work), '--cfg-options', *tiny_options(config),
        'train_cfg.max_epochs=2', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={sample_folder}',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2'
    ])
    assert (work / 'epoch_2.pth').is_file()
    logs = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    losses = [
        json.loads(line)['loss'] for line in open(logs[0]) if '"loss"' in line
    ]
    assert len(losses) == 4 and all(0 < loss < float('inf') for loss in losses)
