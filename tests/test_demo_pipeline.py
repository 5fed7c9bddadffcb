"""The user's path: mim train on generated data, then the picture."""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import pytest

from infmae_mm.testing import tiny_arch_cli

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')


def run(cmd, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(
    shutil.which('mim', path=osp.dirname(sys.executable)) is None,
    reason='openmim is not installed')
def test_mim_train_then_reconstruction_picture(tmp_path):
    data, work = tmp_path / 'ir', tmp_path / 'work'
    run([
        sys.executable, 'tools/data/generate_sample_data.py', 'pretrain',
        str(data), '--num', '24', '--size', '128', '160'
    ])
    run([
        'mim',
        'train',
        'mmpretrain',
        DEMO_CFG,
        '--work-dir',
        str(work),
        '--cfg-options',
        *tiny_arch_cli(DEMO_CFG),
        'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={data}',
        # The demo's held-out check, here on the same folder, after epoch 2.
        'train_cfg.val_interval=2',
        'val_dataloader.num_workers=0',
        f'val_dataloader.dataset.data_root={data}'
    ])
    ckpt = work / 'epoch_2.pth'
    assert ckpt.is_file()
    logs = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    losses = [
        json.loads(line)['loss'] for line in open(logs[0]) if '"loss"' in line
    ]
    assert losses and all(loss > 0 for loss in losses)
    # The held-out table (model vs fills) was logged and its numbers saved.
    held_out = [
        json.loads(line) for line in open(logs[0])
        if 'recon/iam/model_mse' in line
    ]
    assert len(held_out) == 1
    assert held_out[0]['recon/iam/model_mse'] > 0
    assert 'recon/iam/inpaint_mse' in held_out[0]

    out = tmp_path / 'recon.png'
    run([
        sys.executable, 'tools/visualization/show_reconstruction.py', DEMO_CFG,
        str(ckpt), '--images',
        str(data), '--num', '3', '--out',
        str(out), '--cfg-options', *tiny_arch_cli(DEMO_CFG)
    ])
    grid = cv2.imread(str(out))
    assert grid is not None and grid.shape[0] > 3 * 224 and \
        grid.shape[1] > 4 * 224
