"""UNIP through the OpenMMLab tools: mim train (pre-training)."""
import os.path as osp
import subprocess

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from infmae_mm.testing import write_pretrain_folder
from tests.host_tools import REPO, run, write_config
from tests.test_unip import to_timm_names

UNIP_S = osp.join(
    REPO, 'configs/pretrain/'
    'unip_vit-small-p16_mae-large-l18_2xb256-accum8-amp-coslr-100e_infmix.py')


def write_random_teacher(path: str) -> str:
    """A random DeiT-tiny ViT saved as the official MAE files are:
    timm names under ``model``, with an ``argparse.Namespace``."""
    import argparse
    init_default_scope('mmpretrain')
    vit = MODELS.build(dict(type='VisionTransformer', arch='deit-tiny'))
    vit.init_weights()
    state = to_timm_names(vit.state_dict())
    torch.save(dict(model=state, args=argparse.Namespace(lr=1e-3)), path)
    return path


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_mim_train_unip_on_sample_data(tmp_path):
    data = str(tmp_path / 'ir')
    write_pretrain_folder(data, num_images=8, size=(96, 128))
    # One RGB source, converted to gray by the pipeline.
    rgb = tmp_path / 'rgb'
    rgb.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(
            str(rgb / f'{i}.jpg'),
            rng.integers(0, 255, (80, 100, 3), dtype=np.uint8))
    teacher = write_random_teacher(str(tmp_path / 'teacher.pth'))
    # CPU: no AMP (AmpOptimWrapper needs a GPU), the recipe otherwise.
    cfg = write_config(
        str(tmp_path / 'unip_cpu.py'), UNIP_S, f'''
model = dict(
    backbone=dict(arch='tiny', last_layer_heads=3),
    teacher=dict(vit=dict(arch='deit-tiny'), layer=9,
                 checkpoint={teacher!r}))
sources = [_base_.sources[0], _base_.sources[1]]
sources[0]['data_root'] = {data!r}
sources[1]['data_root'] = {str(rgb)!r}
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(datasets=sources))
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', accumulative_counts=2,
    optimizer=_base_.optim_wrapper.optimizer,
    paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=1))
resume = False
''')
    work = str(tmp_path / 'work')
    out = run(['mim', 'train', 'mmpretrain', cfg, '--work-dir', work])
    assert 'Saving checkpoint at 2 epochs' in out, out[-3000:]
    ckpt = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu')
    keys = ckpt['state_dict'].keys()
    assert 'backbone.layers.11.attn.qkv.weight' in keys
    assert not any('teacher' in k for k in keys)


SODA = osp.join(
    REPO, 'configs/seg/'
    'unip_vit-small-p16-llfpn_upernet_2xb4-amp-14k_soda-512x512.py')
LINEAR = osp.join(
    REPO, 'configs/seg/'
    'unip_vit-small-p16-linear_fcn_2xb4-amp-14k_soda-512x512.py')
INFMAE_DEMO = osp.join(
    REPO, 'configs/pretrain/infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')
CONVERTER = 'tools/model_converters/unip_to_mm.py'
NMI_TOOL = 'tools/analysis_tools/attention_nmi.py'
# ViT-T width instead of ViT-S: the configs' structure, a CPU's budget.
TINY_SEG = '''
model = dict(
    backbone=dict(arch='deit-tiny', init_cfg=dict(checkpoint={ckpt!r})),
    neck=dict(in_channels=192),
    decode_head=dict(in_channels=[192] * 4, channels=32),
    auxiliary_head=dict(in_channels=192, channels=8))
'''
TINY_LINEAR = '''
model = dict(
    backbone=dict(arch='deit-tiny', init_cfg=dict(checkpoint={ckpt!r})),
    decode_head=dict(in_channels=[192] * 4, channels=192 * 4))
'''


@pytest.fixture(scope='module')
def soda_and_weights(tmp_path_factory):
    """Generated SODA layout and a converted released-like ViT-T student."""
    import sys

    from tests.test_unip_components import (released_like_checkpoint,
                                            write_split_dataset)
    tmp = tmp_path_factory.mktemp('unip_seg')
    released = str(tmp / 'unip_vit_tiny_by_mae_large.pth')
    # timm names under `model`, optimiser state, an argparse.Namespace.
    released_like_checkpoint(released, arch='tiny')
    converted = str(tmp / 'unip_tiny_mm.pth')
    configs = {
        'upernet':
        write_config(
            str(tmp / 'soda_tiny.py'), SODA, TINY_SEG.format(ckpt=converted)),
        'linear':
        write_config(
            str(tmp / 'linear_tiny.py'), LINEAR,
            TINY_LINEAR.format(ckpt=converted)),
    }
    out = run([
        sys.executable, CONVERTER, released, converted, '--img-size', '512',
        '--check', configs['upernet']
    ])
    # 150 released tensors - final norm (2) + 24 layer scales.
    assert 'all 172 backbone tensors load strictly' in out
    out = run([
        sys.executable, CONVERTER, released,
        str(tmp / 'x.pth'), '--img-size', '512', '--check', configs['linear']
    ])
    assert 'all 172 backbone tensors load strictly' in out
    # A 224 table for a 512 config: refused, naming the option.
    proc = subprocess.run([
        sys.executable, CONVERTER, released,
        str(tmp / 'y.pth'), '--check', configs['linear']
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0 and '--img-size' in proc.stderr
    assert not osp.exists(str(tmp / 'y.pth'))
    root = str(tmp / 'SODA')
    write_split_dataset(
        root,
        'JPEGImages',
        'SegmentationClassPNG', {
            'train_infrared.txt': 2,
            'test_infrared.txt': 2
        },
        '.jpg',
        num_classes=21)
    return root, configs


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize('kind', ['upernet', 'linear'])
def test_mim_train_and_test_mmseg_ll_fpn_and_linear(kind, soda_and_weights,
                                                    tmp_path):
    root, configs = soda_and_weights
    config = configs[kind]
    data = [
        f'{k}.{opt}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
        for opt in (f'dataset.data_root={root}', 'num_workers=0',
                    'persistent_workers=False')
    ]
    cpu = [
        'optim_wrapper.type=OptimWrapper', 'train_dataloader.batch_size=2',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2'
    ]
    work = str(tmp_path / 'work')
    out = run([
        'mim', 'train', 'mmseg', config, '--work-dir', work, '--cfg-options',
        *cpu, *data
    ])
    assert 'mIoU' in out and 'Saving checkpoint at 2 iterations' in out
    assert 'unexpected key' not in out and 'missing keys' not in out
    out = run([
        'mim', 'test', 'mmseg', config, '--checkpoint',
        osp.join(work, 'iter_2.pth'), '--work-dir', work, '--cfg-options',
        *data
    ])
    for name in ('person', 'sidewalk', 'aAcc', 'mIoU'):
        assert name in out


@pytest.mark.slow
@pytest.mark.e2e
def test_attention_nmi_tool_on_teacher_and_infmae(tmp_path):
    import sys
    images = str(tmp_path / 'ir')
    write_pretrain_folder(images, num_images=4, size=(64, 80))
    teacher = write_random_teacher(str(tmp_path / 'teacher.pth'))
    cfg = write_config(
        str(tmp_path / 'unip_tiny.py'), UNIP_S,
        "model = dict(teacher=dict(vit=dict(arch='deit-tiny')))")
    out_dir = str(tmp_path / 'nmi')
    out = run([
        sys.executable, NMI_TOOL, cfg, teacher, '--images', images,
        '--component', 'teacher', '--img-size', '64', '--out-dir', out_dir
    ])
    assert out.count('layers.') == 12 and 'NMI' in out
    import json
    rows = json.load(open(osp.join(out_dir, 'nmi.json')))['layers']
    assert [r['layer'] for r in rows] == list(range(1, 13))
    assert all(0 <= r['nmi'] <= 1 for r in rows)
    assert osp.getsize(osp.join(out_dir, 'nmi.png')) > 1000
    # InfMAE's stage 3, from an mmpretrain checkpoint of the demo model.
    from mmengine.config import Config
    init_default_scope('mmpretrain')
    model = MODELS.build(Config.fromfile(INFMAE_DEMO).model)
    ckpt = str(tmp_path / 'infmae.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = run([
        sys.executable, NMI_TOOL, INFMAE_DEMO, ckpt, '--images', images,
        '--img-size', '64', '--out-dir', out_dir
    ])
    assert out.count('blocks3.') == len(model.backbone.blocks3)
