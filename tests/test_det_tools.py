"""Mmdet's own tools on the InfMAE detection configs, on generated M3FD
data."""
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch

from infmae_mm.testing import tiny_arch_cli, write_m3fd_like
from tests.host_tools import REPO, run

MASK_RCNN = osp.join(
    REPO, 'configs/det/mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py')
CASCADE = osp.join(
    REPO, 'configs/det/cascade-mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py')


@pytest.fixture(scope='module')
def m3fd(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('m3fd'))
    write_m3fd_like(root, num_images=6, size=(192, 256))
    subprocess.run([
        sys.executable, 'tools/dataset_converters/m3fd_to_coco.py', root, root,
        '--val-ratio', '0.34', '--split', 'random'
    ],
                   cwd=REPO,
                   check=True,
                   capture_output=True)
    return root


def data_options(root):
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.data_root={root}/', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    ann = f'{root}/annotations/m3fd_inf_val.json'
    # Keep the generated 256x192 images at their size.
    return opts + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'train_dataloader.dataset.pipeline.2.scale=(256,192)',
        'test_dataloader.dataset.pipeline.1.scale=(256,192)',
        'val_dataloader.dataset.pipeline.1.scale=(256,192)'
    ]


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize(
    'config', [MASK_RCNN, CASCADE], ids=['mask-rcnn', 'cascade'])
def test_mim_train_and_test(config, m3fd, tmp_path):
    work = str(tmp_path / 'work')
    opts = tiny_arch_cli(config) + data_options(m3fd)
    out = run([
        'mim', 'train', 'mmdet', config, '--work-dir', work, '--cfg-options',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1', *opts
    ])
    assert 'bbox_mAP_copypaste' in out
    show = str(tmp_path / 'show')
    out = run([
        'mim', 'test', 'mmdet', config, '--checkpoint',
        osp.join(work, 'epoch_1.pth'), '--work-dir', work, '--show-dir', show,
        '--cfg-options', *opts
    ])
    # Overall mAP / AP50 and the per-class table (paper Table 2's columns).
    assert 'coco/bbox_mAP:' in out and 'coco/bbox_mAP_50:' in out
    for name in ('People', 'Car', 'Motorcycle', 'Lamp', 'mAP_50'):
        assert name in out
    assert len(glob.glob(osp.join(show, '**', '*.png'), recursive=True)) == 2


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="mmdet 3.3's InferenceBenchmark calls model.cuda()")
def test_mmdet_inference_benchmark(m3fd, tmp_path):
    opts = tiny_arch_cli(MASK_RCNN) + data_options(m3fd)
    run([
        'mim', 'train', 'mmdet', MASK_RCNN, '--work-dir',
        str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1', *opts
    ])
    out = run([
        'mim', 'run', 'mmdet', 'benchmark', MASK_RCNN, '--checkpoint',
        osp.join(str(tmp_path), 'epoch_1.pth'), '--task', 'inference',
        '--max-iter', '12', '--log-interval', '6', '--work-dir',
        str(tmp_path), '--cfg-options', *opts
    ])
    assert 'Overall fps' in out
