"""A CheckpointHook whose saves a crash cannot leave half-written.

mmengine 0.10's ``CheckpointHook`` writes ``epoch_N.pth`` / ``iter_N.pth``
in place (``LocalBackend.put`` opens the final path with ``'wb'``), removes
the oldest kept checkpoint *before* writing the new one, and rewrites
``last_checkpoint`` in place too. A process killed in the middle (SIGKILL,
out of memory, a pre-empted job) can therefore leave ``last_checkpoint``,
which ``--resume`` follows, pointing at

* a truncated file: with ``save_best`` the hook saves the current step a
  second time after an improved validation, over the very file
  ``last_checkpoint`` already names;
* a deleted file: with ``max_keep_ckpts=1`` the only complete checkpoint is
  removed before its successor is written;
* nothing: an empty ``last_checkpoint`` when the kill lands between its
  truncation and its write.

:class:`AtomicCheckpointHook` keeps mmengine's behaviour and options and
changes only how files reach the disk: every checkpoint is written to a
temporary file in the same directory, fsynced and renamed over its final
name (``os.replace`` is atomic on POSIX and Windows), ``last_checkpoint`` is
replaced the same way only after that, and outdated checkpoints are removed
only after the pointer has moved. At every instant ``last_checkpoint`` names
a complete file.
"""
import os
import os.path as osp
import re
from typing import List

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from infmae_mm.registry import register_in_hosts
from infmae_mm.utils.io import atomic_write_bytes, atomic_write_text

#: Name of the file backend the hook selects for local checkpoint folders.
ATOMIC_LOCAL_BACKEND = 'infmae_atomic_local'

#: Temporary files of :func:`infmae_mm.utils.io.atomic_open` for checkpoints
#: and the pointer (``.<name>.<random>.tmp``), left behind by a killed save.
_INTERRUPTED_WRITE = re.compile(
    r'^\.(.+\.pth|last_checkpoint)\.[A-Za-z0-9_]+\.tmp$')


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes replace the destination atomically.

    ``put`` and ``put_text`` go through :mod:`infmae_mm.utils.io`: a
    temporary file in the destination's directory, flushed and fsynced, then
    ``os.replace``. Readers see the old file or the new one, never a part.
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(filepath, obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_text(filepath, obj, encoding=encoding)


# force: re-importing the module (e.g. importlib.reload) must not fail.
register_backend(ATOMIC_LOCAL_BACKEND, AtomicLocalBackend, force=True)


@register_in_hosts('HOOKS')
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with crash-safe saves; takes the same arguments.

    For checkpoints saved to a local folder (the default ``out_dir``, the
    work dir) it selects :class:`AtomicLocalBackend`, so that every file the
    hook writes (``epoch_N.pth``/``iter_N.pth``, ``best_*.pth``) appears
    complete or not at all. With a ``backend_args`` or remote ``out_dir`` of
    your own the files are written by that backend as in mmengine (object
    stores replace objects whole). In both cases:

    * ``last_checkpoint`` (always in the local work dir) is replaced
      atomically, after the checkpoint it names is complete;
    * with ``max_keep_ckpts``, the outdated checkpoint is removed after the
      new one is saved and the pointer moved, not before;
    * temporary files of saves interrupted in an earlier run are removed
      when training starts.

    A run killed at any moment resumes (``--resume``) from the last complete
    checkpoint, losing at most the work done since it.

    Example:
        >>> default_hooks = dict(
        ...     checkpoint=dict(type='AtomicCheckpointHook', interval=1,
        ...                     max_keep_ckpts=3))
    """

    def before_train(self, runner) -> None:
        """Select the atomic backend, then set up as ``CheckpointHook``."""
        out_dir = str(self.out_dir or runner.work_dir)
        own_backend = self.backend_args in (None, {
            'backend': ATOMIC_LOCAL_BACKEND
        })
        self.atomic = (
            own_backend and self.file_client_args is None
            and '://' not in out_dir)
        if self.atomic:
            self.backend_args = {'backend': ATOMIC_LOCAL_BACKEND}
        else:
            runner.logger.warning(
                f'AtomicCheckpointHook: checkpoints go to {out_dir} through '
                f'backend_args={self.backend_args} / file_client_args='
                f'{self.file_client_args}; they are written by that backend '
                f'as CheckpointHook does (only last_checkpoint is replaced '
                f'atomically).')
        super().before_train(runner)
        if self.atomic and is_main_process():
            self._remove_interrupted_writes(runner,
                                            {self.out_dir, runner.work_dir})

    @staticmethod
    def _remove_interrupted_writes(runner, folders) -> None:
        """Delete the temporary files of killed saves (full-size partial
        checkpoints nobody will read) from ``folders``."""
        for folder in folders:
            if not osp.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                if _INTERRUPTED_WRITE.match(name):
                    path = osp.join(folder, name)
                    runner.logger.info(
                        f'Removing {path}, left by a checkpoint save that was '
                        f'interrupted.')
                    os.remove(path)

    # A private override, kept on purpose. mmengine 0.10 has no public way to
    # change the order in which CheckpointHook removes the outdated
    # checkpoint, saves the new one and rewrites ``last_checkpoint``: all
    # three happen inside this one private method, called by the private
    # ``_save_checkpoint`` (periodic saves) and ``_save_best_checkpoint``
    # (``save_best``). The public hook points (``after_train_epoch``, ...)
    # only run after the removal already happened and ``last_checkpoint``
    # was already rewritten in place, and the file backend (public, used
    # above for the checkpoint bytes) does not write ``last_checkpoint``.
    # Re-implementing the public hook points instead would copy the
    # interval / save_last / save_best logic. tests/test_checkpoint_hook_
    # contract.py fails when mmengine renames this method, changes its
    # arguments or stops calling it from the public hook points.
    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        """Save the checkpoint of ``step`` and move ``last_checkpoint``.

        The same bookkeeping as ``CheckpointHook`` (the kept steps in the
        message hub, ``last_ckpt``), in a crash-safe order: write the new
        checkpoint, then the pointer, then delete what fell out of
        ``max_keep_ckpts``.
        """
        outdated = self._update_kept_steps(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # Master-only inside; written atomically through the backend.
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write_text(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old_step in outdated:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if path == self.last_ckpt:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                # DeepSpeed and FSDP save checkpoints as folders.
                self.file_backend.rmtree(path)

    def _update_kept_steps(self, runner, step: int) -> List[int]:
        """Record ``step`` among the kept checkpoints (``max_keep_ckpts``).

        Returns:
            list[int]: Steps whose checkpoints no longer need to be kept. The
            caller removes them once the new checkpoint is safe.
        """
        if self.max_keep_ckpts <= 0:
            return []
        # save_best saves the step just saved again: nothing new to keep.
        if len(self.keep_ckpt_ids) and self.keep_ckpt_ids[-1] == step:
            return []
        outdated = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return outdated
