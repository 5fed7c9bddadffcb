"""Multi-node pre-training on the hosts' own engine: two "nodes" of one process
each on localhost, launched by two ``torchrun --nnodes=2`` with a c10d
rendezvous (as the README's multi-node section shows), training through
mmpretrain's ``tools/train.py --launcher pytorch`` on the CPU (gloo).

A recorder hook (imported through ``custom_imports``) writes every rank's
steps and, after training, its parameters: both ranks must step each
iteration of their half of the data, and their parameters must agree with
each other and with the checkpoint rank 0 saved. The CPU accommodations
(gloo process group created before mmengine's launcher would call
``torch.cuda.set_device``; ``device_ids=None``) are test_distributed.py's.
"""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from infmae_mm.utils.checkpoint import extract_state_dict, safe_load_checkpoint
from tests.host_tools import REPO, write_config
from tests.test_distributed import (CPU_GLOO_INIT, DDP_ON_CPU, PRETRAIN,
                                    TORCHRUN, free_port, launch_env,
                                    train_script)

RECORDER = '''"""Each rank's steps and final parameters (test helper)."""
import os

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankRecorder(Hook):

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def _path(self, name):
        return os.path.join(self.out_dir, f'{name}_rank{os.environ["RANK"]}')

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        with open(self._path('steps') + '.txt', 'a') as f:
            f.write(f'{runner.iter} {float(outputs["loss"])}\\n')

    def after_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        torch.save({k: v.detach().cpu() for k, v in
                    model.state_dict().items()}, self._path('state') + '.pt')
'''

pytestmark = pytest.mark.skipif(
    not osp.exists(TORCHRUN), reason='torchrun is not installed')


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pretraining_on_two_nodes(tmp_path):
    data = tmp_path / 'ir'
    subprocess.run([
        sys.executable, 'tools/data/generate_sample_data.py', 'pretrain',
        str(data), '--num', '24', '--size', '64', '80'
    ],
                   cwd=REPO,
                   check=True,
                   capture_output=True)
    (tmp_path / '_infmae_cpu_gloo_init.py').write_text(CPU_GLOO_INIT)
    (tmp_path / '_infmae_rank_recorder.py').write_text(RECORDER)
    record = tmp_path / 'record'
    record.mkdir()
    config = write_config(
        str(tmp_path / 'two_nodes.py'), PRETRAIN, DDP_ON_CPU +
        "custom_imports = dict(imports=['infmae_mm', '_infmae_cpu_gloo_init',"
        " '_infmae_rank_recorder'], allow_failed_imports=False)\n"
        f'custom_hooks = [dict(type="RankRecorder", out_dir={str(record)!r})]'
        '\n')
    work = tmp_path / 'work'
    env = launch_env(tmp_path)
    endpoint = f'127.0.0.1:{free_port()}'
    nodes = []
    for node in range(2):
        cmd = [
            TORCHRUN, '--nnodes=2', '--nproc_per_node=1',
            '--rdzv_backend=c10d', f'--rdzv_endpoint={endpoint}',
            '--rdzv_id=infmae-two-nodes',
            train_script('mmpretrain'), config, '--launcher', 'pytorch',
            '--work-dir',
            str(work), '--cfg-options', 'model.backbone.arch=nano',
            'model.neck.embed_dim=64', 'model.neck.decoder_embed_dim=32',
            'model.neck.decoder_num_heads=2', 'train_cfg.max_epochs=1',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            f'train_dataloader.dataset.data_root={data}',
            f'val_dataloader.dataset.data_root={data}',
            'default_hooks.logger.interval=1'
        ]
        log = open(tmp_path / f'node{node}.log', 'w')
        nodes.append((subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT), log))
    for proc, log in nodes:
        try:
            proc.wait(timeout=800)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    logs = [(tmp_path / f'node{n}.log').read_text() for n in range(2)]
    for (proc, _), out in zip(nodes, logs):
        assert proc.returncode == 0, out[-5000:]
    assert any('Distributed training: True' in out for out in logs)
    # 24 images, 2 ranks x batch 4: 3 iterations, each rank its own 12.
    for rank in range(2):
        steps = (record / f'steps_rank{rank}.txt').read_text().split('\n')
        steps = [line.split() for line in steps if line]
        assert [int(it) for it, _ in steps] == [0, 1, 2], (rank, steps)
        assert all(
            torch.isfinite(torch.tensor(float(loss))) for _, loss in steps)
    states = [
        safe_load_checkpoint(str(record / f'state_rank{rank}.pt'))
        for rank in range(2)
    ]
    saved = extract_state_dict(safe_load_checkpoint(str(work / 'epoch_1.pth')))
    assert states[0].keys() == states[1].keys() == saved.keys()
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key
        assert torch.equal(value, saved[key].cpu()), key
    # Each rank trained on its own shard: different losses, same weights.
    losses = [(record / f'steps_rank{rank}.txt').read_text()
              for rank in range(2)]
    assert losses[0] != losses[1]
