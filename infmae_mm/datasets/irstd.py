"""IRSTD1kDataset: infrared small-target sets in the IRSTD-1k layout."""
import os.path as osp
from typing import Dict, List, Optional

import mmcv
import mmengine
import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets import BaseSegDataset

from infmae_mm.registry import register_in_hosts
from .metainfo import IRSTD_CLASSES, IRSTD_PALETTE


@register_in_hosts('DATASETS', hosts=('mmseg', ))
class IRSTD1kDataset(BaseSegDataset):
    """IRSTD-1k and other single-class IRSTD sets with the same layout.

    .. code-block:: none

        data_root/
        ├── images/XDU0.png ...   (gray or RGB, 512x512 for IRSTD-1k)
        ├── masks/XDU0.png ...    (uint8, 0 = background, 255 = target)
        ├── trainval.txt          (800 stems, one per line)
        └── test.txt              (201 stems)

    Masks store the target as 255, which is also mmseg's ``ignore_index``.
    Left as is, every target pixel would silently be ignored by the loss and
    by mmseg's metrics, so each sample carries ``label_map={255: 1}``: the
    stock ``LoadAnnotations`` applies it right after reading the PNG and the
    pipeline only ever sees labels 0/1. Masks already stored as 0/1 (or
    1-bit PNGs, which Pillow reads as 0/1) pass unchanged. Gray or
    multi-channel masks are not binarised; ``check_mask_values=True`` finds
    them when the dataset is built.

    Other IRSTD sets load by changing paths and suffixes only, e.g.
    NUAA-SIRST releases with ``Misc_1.png`` / ``Misc_1_pixels0.png``:
    ``data_prefix=dict(img_path='images', seg_map_path='masks'),
    seg_map_suffix='_pixels0.png'``.

    Args:
        ann_file (str): Split file listing one stem per line (blank lines
            are skipped), relative to ``data_root``; e.g. ``'trainval.txt'``
            or ``'test.txt'``. ``''`` takes every image in ``img_path``.
            Defaults to ''.
        img_suffix (str): Image file suffix. Defaults to '.png'.
        seg_map_suffix (str): Mask file suffix (everything after the stem).
            Defaults to '.png'.
        data_prefix (dict): Image and mask folders. Defaults to
            ``dict(img_path='images', seg_map_path='masks')``.
        mask_foreground_value (int): Value of target pixels in the mask
            files; it becomes label 1. Defaults to 255.
        check_files (bool): Fail at build time, naming the files, when an
            image or mask of a listed stem is missing. Defaults to True.
        check_mask_values (bool): Also read every mask at build time and fail
            if one is not a 2-D array of values in ``{0, 1,
            mask_foreground_value}``. Costs one PNG decode per mask.
            Defaults to False.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`
            (``data_root``, ``pipeline``, ``test_mode`` ...).
            ``reduce_zero_label=True`` is refused: it would turn both
            background (0) and target (255) into 255.
    """
    METAINFO = dict(
        classes=IRSTD_CLASSES, palette=[list(c) for c in IRSTD_PALETTE])

    def __init__(self,
                 ann_file: str = '',
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(
                     img_path='images', seg_map_path='masks'),
                 mask_foreground_value: int = 255,
                 check_files: bool = True,
                 check_mask_values: bool = False,
                 **kwargs) -> None:
        if kwargs.get('reduce_zero_label', False):
            raise ValueError(
                f'{type(self).__name__} does not support '
                'reduce_zero_label=True: binary masks would lose the target.')
        if not 0 < int(mask_foreground_value) < 256:
            raise ValueError('mask_foreground_value must be in 1..255, got '
                             f'{mask_foreground_value}')
        self.mask_foreground_value = int(mask_foreground_value)
        self.check_files = check_files
        self.check_mask_values = check_mask_values
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)

    def _mask_label_map(self) -> Optional[Dict[int, int]]:
        """Map raw mask values to training labels for ``LoadAnnotations``.

        Composes "raw value -> class" (0 -> 0, foreground -> 1) with the
        class remapping mmseg builds when ``metainfo`` selects other classes
        (``self.label_map``, class index -> new index).
        """
        fg = self.mask_foreground_value
        raw_to_class = {0: 0, fg: 1}
        if fg != 1:
            raw_to_class[1] = 1  # 0/1 masks must give the same labels
        class_map = self.label_map or {}
        mapping = {
            raw: class_map.get(cls, cls)
            for raw, cls in raw_to_class.items()
        }
        # Each entry costs LoadAnnotations one full-image comparison: keep
        # only the values that change.
        mapping = {k: v for k, v in mapping.items() if k != v}
        return mapping or None

    def load_data_list(self) -> List[dict]:
        """Build the sample list from the split file (or the image folder).

        Returns:
            list[dict]: One dict per image with ``img_path``,
            ``seg_map_path``, ``label_map``, ``reduce_zero_label`` and
            ``seg_fields``.

        Raises:
            FileNotFoundError: If the split file, or (with ``check_files``)
                an image or mask of a listed stem, is missing.
            ValueError: If ``check_mask_values`` finds a non-binary mask.
        """
        img_dir = self.data_prefix.get('img_path', None)
        ann_dir = self.data_prefix.get('seg_map_path', None)
        if self.ann_file and not osp.isdir(self.ann_file):
            if not fileio.exists(
                    self.ann_file, backend_args=self.backend_args):
                raise FileNotFoundError(
                    f'Split file {self.ann_file} does not exist.')
            # Own parsing rather than the parent's: a blank line there turns
            # into a sample named '' (e.g. 'images/.png').
            lines = mmengine.list_from_file(
                self.ann_file, backend_args=self.backend_args)
            stems = [line.strip() for line in lines if line.strip()]
            data_list = []
            for stem in stems:
                info = dict(img_path=osp.join(img_dir, stem + self.img_suffix))
                if ann_dir is not None:
                    info['seg_map_path'] = osp.join(ann_dir,
                                                    stem + self.seg_map_suffix)
                data_list.append(info)
        else:
            data_list = super().load_data_list()

        label_map = self._mask_label_map()
        for info in data_list:
            info['label_map'] = label_map
            info['reduce_zero_label'] = self.reduce_zero_label
            info['seg_fields'] = []

        if self.check_files:
            self._check_files_exist(data_list)
        if self.check_mask_values:
            self._check_masks_binary(data_list)
        return data_list

    def _check_files_exist(self, data_list: List[dict]) -> None:
        """Raise one error naming every missing image or mask file."""
        missing = [
            info[key] for info in data_list
            for key in ('img_path', 'seg_map_path') if key in info
            and not fileio.exists(info[key], backend_args=self.backend_args)
        ]
        if missing:
            shown = '\n  '.join(missing[:10])
            more = (f'\n  ... and {len(missing) - 10} more'
                    if len(missing) > 10 else '')
            source = self.ann_file or 'the image folder'
            raise FileNotFoundError(
                f'{len(missing)} file(s) of samples listed in {source} are '
                f'missing:\n  {shown}{more}')

    def _check_masks_binary(self, data_list: List[dict]) -> None:
        """Raise if a mask is not 2-D with values in {0, 1, foreground}."""
        allowed = {0, 1, self.mask_foreground_value}
        for info in data_list:
            path = info.get('seg_map_path')
            if path is None:
                continue
            # Same decoder as LoadAnnotations' default, so the check sees
            # exactly the array the pipeline will see.
            arr = np.squeeze(
                mmcv.imfrombytes(
                    fileio.get(path, backend_args=self.backend_args),
                    flag='unchanged',
                    backend='pillow'))
            values = set(np.unique(arr).tolist())
            if arr.ndim != 2 or not values <= allowed:
                raise ValueError(
                    f'Mask {path} is not a binary mask: shape {arr.shape}, '
                    f'values {sorted(values)[:8]}; expected 2-D with values '
                    f'in {sorted(allowed)}.')
