"""Held-out validation that steps aside when its images are not there.

A pre-training config with held-out reconstruction checks
(``configs/pretrain/_base_/heldout_reconstruction.py``) reads its held-out
images from ``val_dataloader.dataset``. Pointed at your own training folder
(``--cfg-options train_dataloader.dataset.data_root=...``) the config still
names the demo's held-out folder, which you do not have; mmengine's
``ValLoop`` would then stop the run before its first iteration.
:class:`HeldoutValLoop` skips held-out validation instead, with one logged
warning naming the folder and the key to set, when the folder (or the image
list) does not exist. A folder that exists but holds no image, or images
that cannot be read, still fail: those are mistakes, not an absent option.
"""
import logging
import os.path as osp
from typing import Dict, List, Optional, Union

from mmengine.logging import print_log
from mmengine.runner import ValLoop
from torch.utils.data import DataLoader

from infmae_mm.registry import register_in_hosts


def _is_local(path: str) -> bool:
    return '://' not in path


def missing_data_path(dataset: dict) -> Optional[str]:
    """The data path of a dataset config that does not exist, if any.

    Reads ``data_root``, ``data_prefix`` (a string or ``img_path`` of a dict)
    and ``ann_file`` as mmengine's ``BaseDataset`` joins them; a wrapper
    (``dataset=dict(...)``, as ``RepeatDataset``) is looked into. Paths with
    a URL scheme (remote backends) are not checked.

    Args:
        dataset (dict): A dataset config.

    Returns:
        str | None: The image list when ``ann_file`` is set and missing,
        otherwise the image folder when missing; None when present or
        unknown.
    """
    while isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    root = dataset.get('data_root') or ''
    if not isinstance(root, str) or not _is_local(root):
        return None
    ann_file = dataset.get('ann_file') or ''
    if isinstance(ann_file, str) and ann_file:
        path = ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)
        return None if osp.isfile(path) else path
    prefix = dataset.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path') or ''
    if not isinstance(prefix, str) or not _is_local(prefix):
        return None
    folder = osp.join(root, prefix) if root else prefix
    if not folder:
        return None
    return None if osp.isdir(folder) else folder


@register_in_hosts('LOOPS')
class HeldoutValLoop(ValLoop):
    """MMEngine's ``ValLoop`` that is skipped, with a logged warning, when its
    dataset's folder or image list does not exist.

    Use it as ``val_cfg = dict(type='HeldoutValLoop')`` beside a
    ``val_dataloader`` of held-out images (the held-out reconstruction base
    does). When the folder is absent the loop builds no dataloader and no
    evaluator, logs once what it skips and which key to set, and every
    validation it would run returns no metrics; training goes on. With the
    folder present it is mmengine's ``ValLoop`` unchanged.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The held-out dataloader.
        evaluator (Evaluator | dict | list): Its metrics.
        fp16 (bool): Validate under fp16 autocast. Defaults to False.
        skip_if_missing (bool): Skip when the folder is absent; False stops
            the run there with the dataset's own error. Defaults to True.
        config_key (str): Where the dataset sits in the config, named in the
            warning. Defaults to ``'val_dataloader.dataset'``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Dict, List],
                 fp16: bool = False,
                 skip_if_missing: bool = True,
                 config_key: str = 'val_dataloader.dataset') -> None:
        self.skipped: Optional[str] = None
        missing = None
        if skip_if_missing and isinstance(dataloader, dict):
            missing = missing_data_path(dataloader.get('dataset') or {})
        if missing is None:
            super().__init__(runner, dataloader, evaluator, fp16)
            return
        # BaseLoop.__init__ would build the dataloader (and fail on the
        # missing folder): keep the runner and nothing else.
        self._runner = runner
        self.dataloader = []
        self.evaluator = None
        self.fp16 = fp16
        self.val_loss = dict()
        what = 'image list' if missing.endswith(
            ('.txt', '.csv', '.list', '.lst')) else 'folder'
        self.skipped = (
            f'Held-out validation is skipped: its {what} {missing} does not '
            f'exist. To measure held-out reconstruction during training, set '
            f'{config_key}.data_root (and {config_key}.data_prefix / '
            f'ann_file) to images that are not trained on; '
            f"val_cfg.skip_if_missing=False makes an absent {what} an error.")
        print_log(self.skipped, logger='current', level=logging.WARNING)

    def run(self) -> dict:
        """Run mmengine's validation, or return no metrics when skipped."""
        if self.skipped is not None:
            return {}
        return super().run()
