"""A DuGI-MAE checkpoint drops into the InfMAE seg / det / IRSTD configs.

DuGI-MAE keeps InfMAE's encoder (F1-F3; F4 comes from the pyramid neck), so
its pre-training checkpoint loads through the downstream configs unchanged:
only the checkpoint path differs.
"""
import importlib
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope

from infmae_mm.testing import (as_cfg_options, tiny_arch_options,
                               write_msrs_like)
from tests.host_tools import REPO, loader_options, run
from tests.test_dugi import dugi_model

UPERNET = osp.join(
    REPO, 'configs/seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
DOWNSTREAM = {
    'upernet': (UPERNET, 'mmseg'),
    'fcn':
    (osp.join(REPO, 'configs/seg/'
              'fcn_infmae-base_1xb2-24k_msrs-inf-480x640.py'), 'mmseg'),
    'mask-rcnn':
    (osp.join(REPO, 'configs/det/'
              'mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py'), 'mmdet'),
    'irstd': (osp.join(
        REPO, 'configs/irstd/'
        'irstd-head_infmae-base_1xb2-40k_irstd1k-512x512.py'), 'mmseg'),
}


@pytest.fixture(scope='module', params=['paper', 'code'])
def dugi_checkpoint(request, tmp_path_factory):
    torch.manual_seed(0)
    model = dugi_model(request.param)
    path = str(tmp_path_factory.mktemp('ckpt') / f'dugi_{request.param}.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path, model


def nano_config(config: str, checkpoint: str) -> Config:
    """The config at nano widths, its backbone still loading ``checkpoint``."""
    cfg = Config.fromfile(config)
    options = tiny_arch_options(cfg)
    options.pop('model.backbone.init_cfg', None)
    cfg.merge_from_dict(options)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    return cfg


@pytest.mark.parametrize('name', list(DOWNSTREAM))
def test_downstream_configs_load_a_dugi_checkpoint(name, dugi_checkpoint):
    config, host = DOWNSTREAM[name]
    path, pretrained = dugi_checkpoint
    cfg = nano_config(config, path)
    init_default_scope(host)
    models = importlib.import_module(f'{host}.registry').MODELS
    backbone = models.build(cfg.model.backbone)
    backbone.init_weights()
    loaded = backbone.state_dict()
    source = pretrained.backbone.state_dict()
    compared = 0
    for key, value in source.items():
        if key == 'pos_embed':  # rebuilt / resized for the task's size
            continue
        torch.testing.assert_close(loaded[key], value, msg=key)
        compared += 1
    assert compared == len(source) - 1
    # F1-F3 from the encoder, F4 from the pyramid neck: strides 4-32.
    if name in ('upernet', 'mask-rcnn'):
        model = revert_sync_batchnorm(models.build(cfg.model))
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.randn(1, 3, 128, 160))
        strides = [128 // f.shape[2] for f in feats[:4]]
        assert strides == [4, 8, 16, 32]


@pytest.mark.slow
@pytest.mark.e2e
def test_dugi_checkpoint_fine_tunes_through_msrs_upernet(
        dugi_checkpoint, tmp_path):
    path, _ = dugi_checkpoint
    msrs = str(tmp_path / 'msrs')
    write_msrs_like(msrs, num_train=4, num_test=2, size=(240, 320))
    options = tiny_arch_options(Config.fromfile(UPERNET))
    options.pop('model.backbone.init_cfg', None)
    work = str(tmp_path / 'work')
    out = run([
        'mim', 'train', 'mmseg', UPERNET, '--work-dir', work, '--cfg-options',
        *as_cfg_options(options), f'model.backbone.init_cfg.checkpoint={path}',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
        'default_hooks.logger.interval=1', *loader_options(
            'train_dataloader',
            'val_dataloader',
            'test_dataloader',
            data_root=msrs)
    ])
    assert path in out
    assert 'mIoU' in out and 'Saving checkpoint at 3 iterations' in out
