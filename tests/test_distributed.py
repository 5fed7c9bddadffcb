"""Multi-process training on the hosts' own engine (torchrun + DDP).

Pre-training (mmpretrain) and UperNet segmentation (mmseg) train under
``torchrun --nproc_per_node=2`` with ``--launcher pytorch`` on the CPU (gloo),
wrapped in MMDistributedDataParallel *without* ``find_unused_parameters``: a
parameter that gets no gradient in an iteration stops the next one. Every
downstream config is also checked in-process for that condition, which is
cheaper than a launch per config.

Two accommodations for CPU-only machines, both in the test's wrapper config
and neither in the configs themselves:

* mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` before
  creating the process group, which fails without CUDA. A module in
  ``custom_imports`` (imported while the config is read, before the Runner
  exists) creates the gloo process group from torchrun's environment; the
  Runner then sees an initialised group, skips ``init_dist`` and still wraps
  the model in MMDistributedDataParallel.
* The wrapper gets ``device_ids=None`` (DDP refuses device ids for a CPU
  module; mmengine passes ``[LOCAL_RANK]``).

SyncBN (the segmentation configs' norm) only runs on GPUs; torch's DDP
refuses a CPU module holding it ("SyncBatchNorm layers only work with GPU
modules"), so the segmentation launch overrides ``norm_cfg`` to BN.
"""
import glob
import importlib
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from infmae_mm.testing import write_msrs_like
from tests.host_tools import BIN, REPO, loader_options, write_config

TORCHRUN = osp.join(BIN, 'torchrun')
PRETRAIN = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')
UPERNET = osp.join(
    REPO, 'configs/seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')

CPU_GLOO_INIT = '''"""Create the gloo process group from torchrun's
environment on a machine without CUDA, before mmengine's launcher would
call torch.cuda.set_device. The group is destroyed at exit: a gloo group
still alive at interpreter finalisation can abort the process (SIGABRT,
"terminate called without an active exception") after training finished."""
import atexit
import os

import torch
import torch.distributed as dist

if ('LOCAL_RANK' in os.environ and not torch.cuda.is_available()
        and not dist.is_initialized()):
    dist.init_process_group('gloo')
    atexit.register(
        lambda: dist.is_initialized() and dist.destroy_process_group())
'''

DDP_ON_CPU = '''
custom_imports = dict(
    imports=['infmae_mm', '_infmae_cpu_gloo_init'], allow_failed_imports=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel',
    device_ids=None,
    broadcast_buffers=False,
    find_unused_parameters=False)
'''

pytestmark = pytest.mark.skipif(
    not osp.exists(TORCHRUN), reason='torchrun is not installed')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_script(host: str) -> str:
    """The host's tools/train.py, as installed with its package (what mim
    runs)."""
    package = importlib.import_module(host)
    return osp.join(osp.dirname(package.__file__), '.mim', 'tools', 'train.py')


def launch_env(tmp_path) -> dict:
    """Environment of a torchrun launch: ``tmp_path`` importable (the gloo
    init module), one thread per process, this interpreter's tools first."""
    env = dict(
        os.environ,
        PYTHONUNBUFFERED='1',
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join(
            filter(None,
                   [str(tmp_path), os.environ.get('PYTHONPATH')])))
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    return env


def torchrun(tmp_path, host: str, config: str, options) -> str:
    """Train ``config`` on 2 CPU processes; return the output."""
    (tmp_path / '_infmae_cpu_gloo_init.py').write_text(CPU_GLOO_INIT)
    wrapped = write_config(str(tmp_path / 'ddp_cpu.py'), config, DDP_ON_CPU)
    script = train_script(host)
    env = launch_env(tmp_path)
    cmd = [
        TORCHRUN, '--nproc_per_node=2', '--master_addr=127.0.0.1',
        f'--master_port={free_port()}', script, wrapped, '--launcher',
        'pytorch', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert 'Distributed training: True' in out
    assert 'find_unused_parameters=False' in out
    return out


@pytest.mark.slow
@pytest.mark.e2e
def test_pretraining_on_two_processes(tmp_path):
    data = tmp_path / 'ir'
    subprocess.run([
        sys.executable, 'tools/data/generate_sample_data.py', 'pretrain',
        str(data), '--num', '24', '--size', '64', '80'
    ],
                   cwd=REPO,
                   check=True,
                   capture_output=True)
    out = torchrun(tmp_path, 'mmpretrain', PRETRAIN, [
        'model.backbone.arch=nano', 'model.neck.embed_dim=64',
        'model.neck.decoder_embed_dim=32', 'model.neck.decoder_num_heads=2',
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        'default_hooks.logger.interval=1'
    ])
    # 24 images, 2 ranks x batch 4: 3 iterations, each rank its own 12.
    assert 'Epoch(train) [1][3/3]' in out
    assert 'Saving checkpoint at 1 epochs' in out


@pytest.mark.slow
@pytest.mark.e2e
def test_segmentation_on_two_processes(tmp_path):
    msrs = str(tmp_path / 'msrs')
    write_msrs_like(msrs, num_train=4, num_test=2, size=(96, 128))
    out = torchrun(
        tmp_path,
        'mmseg',
        UPERNET,
        [
            'model.backbone.arch=nano',
            'model.backbone.init_cfg=None',
            'model.neck.in_channels=[32,48,64]',
            'model.decode_head.in_channels=[32,48,64,64]',
            'model.decode_head.channels=16',
            'model.auxiliary_head.in_channels=64',
            'model.auxiliary_head.channels=8',
            # SyncBN runs on GPUs only.
            'model.neck.norm_cfg.type=BN',
            'model.decode_head.norm_cfg.type=BN',
            'model.auxiliary_head.norm_cfg.type=BN',
            'train_dataloader.dataset.pipeline.3.crop_size=(96,128)',
            'train_cfg.max_iters=3',
            'train_cfg.val_interval=3',
            'default_hooks.logger.interval=1',
            *loader_options(
                'train_dataloader',
                'val_dataloader',
                'test_dataloader',
                data_root=msrs)
        ])
    assert 'Iter(train) [3/3]' in out and 'mIoU' in out
    assert 'Saving checkpoint at 3 iterations' in out


# ------------------------------------ every trainable parameter is used
SEG_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs/seg/*.py')) +
    glob.glob(osp.join(REPO, 'configs/irstd/*.py')))
#: InfMAE-B widths -> nano widths (F1, F2, F3).
NANO_WIDTH = {256: 32, 384: 48, 768: 64}

#: ViT-S widths (one level, four levels concatenated) -> 64-wide ViT.
VIT_NANO_WIDTH = {384: 64, 1536: 256}


def _nano(part: dict, widths: dict) -> None:
    for key in ('in_channels', 'channels'):
        value = part.get(key)
        if isinstance(value, int):
            part[key] = widths.get(value, value)
        elif isinstance(value, (list, tuple)):
            part[key] = [widths.get(v, v) for v in value]


@pytest.mark.slow
@pytest.mark.parametrize('path', SEG_CONFIGS, ids=osp.basename)
def test_every_trainable_parameter_gets_a_gradient(path):
    """DDP without find_unused_parameters needs it in every iteration."""
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(path)
    init_default_scope('mmseg')
    if cfg.model.backbone.type == 'mmpretrain.VisionTransformer':
        # UNIP's plain ViT: 12 narrow layers keep every out_indices valid.
        cfg.model.backbone.update(
            arch=dict(
                embed_dims=64,
                num_layers=12,
                num_heads=2,
                feedforward_channels=128),
            init_cfg=None)
        widths = VIT_NANO_WIDTH
    else:
        cfg.model.backbone.update(arch='nano', init_cfg=None)
        widths = NANO_WIDTH
    for part in ('neck', 'decode_head', 'auxiliary_head'):
        if cfg.model.get(part):
            _nano(cfg.model[part], widths)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    model.train()
    h, w = 64, 96
    samples = []
    for seed in range(2):
        sample = SegDataSample()
        labels = torch.randint(
            0, 2, (1, h, w), generator=torch.Generator().manual_seed(seed))
        sample.gt_sem_seg = PixelData(data=labels)
        sample.set_metainfo(
            dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)))
        samples.append(sample)
    losses = model.loss(torch.randn(2, 3, h, w), samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    unused = [
        name for name, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not unused, f'no gradient (DDP would stop): {unused}'
