"""Crash-safe checkpoints and resuming after a kill.

* A save that dies halfway (simulated in-process: the write of the
  checkpoint's bytes stops in the middle and the "process" is gone) leaves
  ``last_checkpoint`` naming a complete checkpoint with AtomicCheckpointHook,
  and training resumes from it; mmengine's own CheckpointHook leaves it
  naming a deleted or truncated file in the same situations.
* A real ``mim train mmpretrain`` run killed with SIGKILL after its first
  checkpoint resumes with ``--resume`` from that checkpoint and finishes.
"""
import builtins
import glob
import io
import os
import os.path as osp
import signal
import subprocess
import sys
import time
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseModel
from mmengine.runner import Runner

from infmae_mm.engine.hooks.checkpoint_hook import AtomicCheckpointHook
from infmae_mm.testing import tiny_arch_cli
from infmae_mm.utils.checkpoint import safe_load_checkpoint
from tests.host_tools import BIN, REPO, run

#: torch.save's zip container starts with a local file header.
ZIP_MAGIC = b'PK\x03\x04'


# ------------------------------------------------------------ toy training
class ToyModel(BaseModel):
    """Big enough for a checkpoint of a few hundred kB."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(128, 256)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return list(out) if mode == 'predict' else out


class ToyDataset(torch.utils.data.Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.full((128, ), float(index)))


class RisingScore(BaseMetric):
    """A validation score that improves at every evaluation, so that
    ``save_best`` saves every time."""

    evaluations = 0

    def process(self, data_batch, data_samples) -> None:
        self.results.append(len(data_samples))

    def compute_metrics(self, results) -> dict:
        RisingScore.evaluations += 1
        return dict(score=float(RisingScore.evaluations))


def toy_runner(work_dir, hook, max_epochs=2, resume=False, **hook_args):
    loader = dict(
        dataset=ToyDataset(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=2,
        collate_fn=dict(type='default_collate'))
    with_val = 'save_best' in hook_args
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'toy_{uuid.uuid4().hex}',
        train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        val_dataloader=loader if with_val else None,
        val_cfg=dict() if with_val else None,
        val_evaluator=dict(type=RisingScore) if with_val else None,
        default_hooks=dict(
            checkpoint=dict(type=hook, interval=1, **hook_args)),
        resume=resume,
        log_level='WARNING')


# ------------------------------------------------------- simulated crashes
class SimulatedCrash(BaseException):
    """The process "dies": a BaseException, so no ``except Exception`` handler
    on the way catches it."""


class CrashingWrites:
    """``open`` for ``builtins.open`` and ``io.open`` (``os.fdopen`` uses the
    latter): the ``crash_at``-th checkpoint written in binary mode stops after
    half its bytes, then :class:`SimulatedCrash` is raised."""

    def __init__(self, crash_at: int) -> None:
        self.crash_at = crash_at
        self.checkpoints = 0
        self.real_open = io.open

    def __call__(self, file, mode='r', *args, **kwargs):
        f = self.real_open(file, mode, *args, **kwargs)
        if 'b' in mode and ('w' in mode or 'x' in mode):
            return _CrashingFile(f, self)
        return f


class _CrashingFile:

    def __init__(self, f, writes: CrashingWrites) -> None:
        self._f = f
        self._writes = writes

    def write(self, data):
        view = memoryview(data).cast('B')
        if bytes(view[:4]) == ZIP_MAGIC:
            self._writes.checkpoints += 1
            if self._writes.checkpoints == self._writes.crash_at:
                self._f.write(view[:len(view) // 2])
                self._f.flush()
                raise SimulatedCrash('killed while writing a checkpoint')
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._f, name)


def latest_checkpoint(work_dir):
    """(path in last_checkpoint, its meta, or the error loading it)."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    try:
        return path, safe_load_checkpoint(path)['meta'], None
    except Exception as e:  # noqa: BLE001  (what a resume would hit)
        return path, None, e


# The checkpoint writes, in order, until the crash:
#   keep1:     epoch_1.pth, epoch_2.pth (the hook removes epoch_1.pth first
#              to keep one)
#   save_best: epoch_1.pth, best_score_epoch_1.pth, epoch_1.pth again (to
#              store the new best in its message hub), over the file that
#              last_checkpoint names
SCENARIOS = {
    'keep1': (dict(max_keep_ckpts=1), 2),
    'save_best': (dict(save_best='score', rule='greater'), 3),
}


def train_until_a_save_crashes(work, hook, scenario, monkeypatch) -> None:
    """Train with ``hook`` until the scenario's crash during a save."""
    hook_args, crash_at = SCENARIOS[scenario]
    writes = CrashingWrites(crash_at)
    runner = toy_runner(work, hook, **hook_args)
    with monkeypatch.context() as patch:
        patch.setattr(builtins, 'open', writes)
        patch.setattr(io, 'open', writes)
        with pytest.raises(SimulatedCrash):
            runner.train()
    assert writes.checkpoints == crash_at


@pytest.mark.parametrize('scenario', sorted(SCENARIOS))
def test_crash_mid_save_keeps_a_loadable_latest_checkpoint(
        scenario, tmp_path, monkeypatch):
    hook_args = SCENARIOS[scenario][0]
    work = tmp_path / 'work'
    train_until_a_save_crashes(work, AtomicCheckpointHook, scenario,
                               monkeypatch)
    path, meta, error = latest_checkpoint(work)
    assert error is None, f'{path} does not load: {error!r}'
    assert osp.basename(path) == 'epoch_1.pth' and meta['epoch'] == 1
    assert not glob.glob(str(work / '.*.tmp'))

    # A new run resumes from it and finishes.
    resumed = toy_runner(work, AtomicCheckpointHook, resume=True, **hook_args)
    resumed.train()
    assert resumed.epoch == 2
    path, meta, error = latest_checkpoint(work)
    assert error is None and meta['epoch'] == 2 and meta['iter'] == 4


@pytest.mark.parametrize('scenario', sorted(SCENARIOS))
def test_mmengine_checkpoint_hook_can_leave_a_broken_latest_checkpoint(
        scenario, tmp_path, monkeypatch):
    """Why the configs use AtomicCheckpointHook: the same crash with
    mmengine 0.10's CheckpointHook leaves last_checkpoint naming a file
    that is gone (keep1) or truncated (save_best)."""
    work = tmp_path / 'work'
    train_until_a_save_crashes(work, CheckpointHook, scenario, monkeypatch)
    path, meta, error = latest_checkpoint(work)
    assert error is not None, 'mmengine now saves safely: revisit the hook'
    assert isinstance(error, FileNotFoundError) == (scenario == 'keep1')


def test_interrupted_writes_are_removed_at_start(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    leftovers = ['.epoch_3.pth.x1_y2.tmp', '.last_checkpoint.ab12.tmp']
    unrelated = ['.notes.tmp', 'epoch_3.pth.tmp']
    for name in leftovers + unrelated:
        (work / name).write_bytes(b'partial')
    toy_runner(work, AtomicCheckpointHook, max_epochs=1).train()
    names = set(os.listdir(work))
    assert not names & set(leftovers)
    assert set(unrelated) <= names
    assert {'epoch_1.pth', 'last_checkpoint'} <= names


@pytest.mark.slow
@pytest.mark.parametrize('folder', ['pretrain', 'seg', 'det', 'irstd'])
def test_configs_use_the_atomic_checkpoint_hook(folder):
    paths = glob.glob(osp.join(REPO, 'configs', folder, '*.py'))
    assert paths
    for path in paths:
        hook = Config.fromfile(path).default_hooks.checkpoint
        assert hook.type == 'AtomicCheckpointHook', path


# -------------------------------------------------------- a real SIGKILL
DEMO_CFG = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')
MAX_EPOCHS, NUM_IMAGES, BATCH = 3, 32, 4
ITERS_PER_EPOCH = NUM_IMAGES // BATCH


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(
    not osp.exists(osp.join(BIN, 'mim')), reason='openmim is not installed')
def test_sigkill_then_resume(tmp_path):
    data, work = tmp_path / 'ir', tmp_path / 'work'
    run([
        sys.executable, 'tools/data/generate_sample_data.py', 'pretrain',
        str(data), '--num',
        str(NUM_IMAGES), '--size', '64', '80'
    ])
    options = [
        *tiny_arch_cli(DEMO_CFG), f'train_cfg.max_epochs={MAX_EPOCHS}',
        f'train_dataloader.batch_size={BATCH}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ]
    train = ['mim', 'train', 'mmpretrain', DEMO_CFG, '--work-dir', str(work)]
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    log = tmp_path / 'killed_run.log'
    with open(log, 'w') as out:
        # Its own process group: mim and the train.py it starts die together.
        proc = subprocess.Popen(
            train + ['--cfg-options', *options],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + 300
        try:
            # last_checkpoint is written after epoch_1.pth is complete: the
            # run is then at the start of epoch 2.
            while not ((work / 'epoch_1.pth').exists() and
                       (work / 'last_checkpoint').exists()):
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.time() < deadline, 'no checkpoint in 300 s'
                time.sleep(0.02)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    path, meta, error = latest_checkpoint(work)
    assert error is None, f'{path}: {error!r}'
    done = meta['epoch']  # 1 unless the machine stalled the poll a while
    assert 1 <= done < MAX_EPOCHS
    assert meta['iter'] == done * ITERS_PER_EPOCH

    out = run(train + ['--resume', '--cfg-options', *options])
    assert f'Auto resumed from the latest checkpoint {path}' in out
    assert f'resumed epoch: {done}, iter: {done * ITERS_PER_EPOCH}' in out
    epochs_trained = sorted({
        int(line.split('Epoch(train) [')[1].split(']')[0])
        for line in out.splitlines() if 'Epoch(train) [' in line
    })
    assert epochs_trained == list(range(done + 1, MAX_EPOCHS + 1))
    final = safe_load_checkpoint(str(work / f'epoch_{MAX_EPOCHS}.pth'))
    assert final['meta']['epoch'] == MAX_EPOCHS
    assert final['meta']['iter'] == MAX_EPOCHS * ITERS_PER_EPOCH
    _, meta, error = latest_checkpoint(work)
    assert error is None and meta['epoch'] == MAX_EPOCHS
    assert not glob.glob(str(work / '.*.tmp'))
