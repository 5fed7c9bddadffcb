"""The mmengine internals AtomicCheckpointHook relies on are still there.

``AtomicCheckpointHook`` overrides mmengine's private
``CheckpointHook._save_checkpoint_with_step`` (no public way exists to change
the order of remove / save / pointer update, see the comment in
``infmae_mm/engine/hooks/checkpoint_hook.py``). These tests fail when the host
changes that method's name or arguments, or when the public hook points stop
reaching it: then the override would silently not run and saves would no
longer be crash-safe.
"""
import inspect
import os.path as osp
import types

import pytest
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger

from infmae_mm.engine.hooks.checkpoint_hook import AtomicCheckpointHook


def test_overridden_method_exists_with_the_same_arguments():
    host = inspect.signature(CheckpointHook._save_checkpoint_with_step)
    ours = inspect.signature(AtomicCheckpointHook._save_checkpoint_with_step)
    assert list(host.parameters) == ['self', 'runner', 'step', 'meta']
    assert list(ours.parameters) == list(host.parameters)


@pytest.mark.parametrize('caller',
                         ['_save_checkpoint', '_save_best_checkpoint'])
def test_host_savers_go_through_the_overridden_method(caller):
    source = inspect.getsource(getattr(CheckpointHook, caller))
    assert 'self._save_checkpoint_with_step(' in source


class FakeRunner(types.SimpleNamespace):
    """The part of mmengine's Runner that CheckpointHook touches.

    ``save_checkpoint`` writes a small file through the hook's backend and
    records, for every save, which checkpoint files existed at that moment.
    """

    def save_checkpoint(self,
                        out_dir,
                        filename,
                        file_client_args=None,
                        backend_args=None,
                        **kwargs):
        path = osp.join(out_dir, filename)
        existing = sorted(
            n for n in ('epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth')
            if osp.exists(osp.join(out_dir, n)))
        self.saves.append((filename, existing))
        with open(path, 'wb') as f:
            f.write(b'checkpoint ' + filename.encode())


def test_public_hook_points_reach_the_override(tmp_path):
    """With ``max_keep_ckpts=1`` the previous checkpoint still exists while
    the next is saved (mmengine removes it first), and ``last_checkpoint``
    names the newest file: the override ran through ``after_train_epoch``."""
    work_dir = str(tmp_path)
    runner = FakeRunner(
        work_dir=work_dir,
        epoch=0,
        iter=0,
        max_epochs=3,
        saves=[],
        logger=MMLogger.get_instance('hook_contract'),
        message_hub=MessageHub.get_instance('hook_contract'))
    hook = AtomicCheckpointHook(interval=1, max_keep_ckpts=1)
    hook.before_train(runner)
    for epoch in range(3):
        runner.epoch = epoch
        hook.after_train_epoch(runner)
    assert runner.saves == [('epoch_1.pth', []),
                            ('epoch_2.pth', ['epoch_1.pth']),
                            ('epoch_3.pth', ['epoch_2.pth'])]
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'epoch_3.pth')
