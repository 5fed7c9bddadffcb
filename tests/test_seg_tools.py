"""Mmseg's own tools on the InfMAE segmentation configs, on generated data."""
import glob
import os.path as osp
import sys

import pytest

from infmae_mm.testing import tiny_arch_cli, write_msrs_like
from tests.host_tools import REPO, loader_options, run, write_config

UPERNET = osp.join(
    REPO, 'configs/seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
FCN = osp.join(REPO,
               'configs/seg/fcn_infmae-base_1xb2-24k_msrs-inf-480x640.py')
SCHEDULE = [
    'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
    'default_hooks.logger.interval=1'
]


@pytest.fixture(scope='module')
def msrs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('msrs'))
    write_msrs_like(root, num_train=4, num_test=2, size=(240, 320))
    return root


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize('config', [UPERNET, FCN], ids=['upernet', 'fcn'])
def test_mim_train_and_test(config, msrs, tmp_path):
    data = loader_options(
        'train_dataloader',
        'val_dataloader',
        'test_dataloader',
        data_root=msrs)
    work = str(tmp_path / 'work')
    out = run([
        'mim', 'train', 'mmseg', config, '--work-dir', work, '--cfg-options',
        *tiny_arch_cli(config), *SCHEDULE, *data
    ])
    assert 'mIoU' in out and 'Saving checkpoint at 3 iterations' in out
    show = str(tmp_path / 'show')
    out = run([
        'mim', 'test', 'mmseg', config, '--checkpoint',
        osp.join(work, 'iter_3.pth'), '--work-dir', work, '--show-dir', show,
        '--cfg-options', *tiny_arch_cli(config), *data,
        'default_hooks.visualization.interval=1'
    ])
    for name in ('person', 'car', 'bump', 'aAcc', 'mIoU', 'mAcc'):
        assert name in out
    pictures = glob.glob(osp.join(show, '**', '*.png'), recursive=True)
    assert len(pictures) == 2, pictures


@pytest.mark.slow
@pytest.mark.e2e
def test_benchmark_and_get_flops(tmp_path):
    small = str(tmp_path / 'msrs_small')
    write_msrs_like(small, num_train=1, num_test=2, size=(96, 128))
    # benchmark.py takes no --cfg-options: a config inheriting the real one.
    cfg = write_config(
        str(tmp_path / 'nano_upernet.py'), UPERNET, f'''
model = dict(
    backbone=dict(arch='nano', init_cfg=None),
    neck=dict(in_channels=[32, 48, 64]),
    decode_head=dict(in_channels=[32, 48, 64, 64], channels=16),
    auxiliary_head=dict(in_channels=64, channels=8))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(
    _delete_=True, type='RepeatDataset', times=100, dataset=dict(
        type='MSRSInfDataset', data_root={small!r},
        data_prefix=dict(img_path='test/ir',
                         seg_map_path='test/Segmentation_labels'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(128, 96), keep_ratio=True),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')])))
''')
    out = run([
        'mim', 'run', 'mmseg', 'benchmark', cfg, 'none.pth', '--work-dir',
        str(tmp_path), '--log-interval', '100'
    ])
    assert 'Overall fps' in out and 'Average fps of 1 evaluations' in out
    # mmseg 1.2.2's get_flops.py fails on every config with mmengine 0.10;
    # tools/analysis_tools/get_flops.py counts the same forward.
    out = run([
        sys.executable, 'tools/analysis_tools/get_flops.py', UPERNET,
        '--shape', '480', '640', '--cfg-options', *tiny_arch_cli(UPERNET)
    ])
    assert 'Flops:' in out and 'Params:' in out
