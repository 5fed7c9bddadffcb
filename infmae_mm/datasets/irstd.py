"""IRSTD1kDataset: infrared small-target sets in the IRSTD-1k layout."""
import os.path as osp
from typing import Dict, List, Optional, Set, Tuple

import mmcv
import mmengine
import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets import BaseSegDataset

from infmae_mm.registry import register_in_hosts
from .metainfo import IRSTD_CLASSES, IRSTD_PALETTE
from .pair_checks import (DataDefect, DatasetDefectError, check_mask_values,
                          check_pair_headers)


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
    1-bit PNGs, which Pillow reads as 0/1) pass unchanged. Gray masks
    (anti-aliased edges) are not binarised; ``check_mask_values=True`` finds
    them when the dataset is built, multi-channel masks are found by the
    default header check.

    Other IRSTD sets load by changing paths and suffixes only, e.g.
    NUAA-SIRST releases with ``Misc_1.png`` / ``Misc_1_pixels0.png``:
    ``data_prefix=dict(img_path='images', seg_map_path='masks'),
    seg_map_suffix='_pixels0.png'``. Images spread over several folders (as
    in SIRST-v2: ``images/targets/`` and ``images/backgrounds/``, split files
    of bare stems) load with a list of folders,
    ``data_prefix=dict(img_path=['images/targets', 'images/backgrounds'],
    seg_map_path='annotations/masks')``: each stem is looked up in every
    folder, and a stem found in none or in several is a defect.

    **Checks when the dataset is built** (all defects are collected, then one
    :class:`~infmae_mm.datasets.pair_checks.DatasetDefectError` lists each
    with its file and fix, before any training step): with ``check_files``
    (the default) every listed image and mask exists, and, read from the
    file headers without decoding pixels, the mask has its image's size and
    a single channel (about 0.2 s for SIRST-v2's 1,024 pairs). Mask values
    need a full decode (about 20x the cost: 3.7 s for SIRST-v2) and are
    checked with ``check_mask_values=True``, which
    ``tools/data/check_dataset.py`` sets. Headers are read on the local disk
    only; with a remote ``backend_args`` only existence is checked.

    Args:
        ann_file (str): Split file listing one stem per line (blank lines
            are skipped), relative to ``data_root``; e.g. ``'trainval.txt'``
            or ``'test.txt'``. ``''`` takes every image in ``img_path``.
            Defaults to ''.
        img_suffix (str): Image file suffix. Defaults to '.png'.
        seg_map_suffix (str): Mask file suffix (everything after the stem).
            Defaults to '.png'.
        data_prefix (dict): Image and mask folders; ``img_path`` may be a
            list of folders searched in turn. Defaults to
            ``dict(img_path='images', seg_map_path='masks')``.
        mask_foreground_value (int): Value of target pixels in the mask
            files; it becomes label 1. Defaults to 255.
        check_files (bool): At build time, fail naming every listed image
            or mask that is missing, a mask of another size than its image
            or with several channels (file headers only). Defaults to True.
        check_mask_values (bool): Also decode every mask at build time and
            fail on one that is not a 2-D array of values in ``{0, 1,
            mask_foreground_value}``. Defaults to False.
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

    def _join_prefix(self) -> None:
        """Join ``data_root`` to every folder, ``img_path`` lists included."""
        img_dirs = self.data_prefix.get('img_path')
        if not isinstance(img_dirs, (list, tuple)):
            super()._join_prefix()
            return
        self.data_prefix['img_path'] = ''
        super()._join_prefix()
        self.data_prefix['img_path'] = [
            d if osp.isabs(d) else osp.join(self.data_root, d)
            for d in img_dirs
        ]

    def _img_dirs(self) -> List[str]:
        img_dirs = self.data_prefix.get('img_path', None)
        if img_dirs is None:
            raise ValueError(f'{type(self).__name__} needs '
                             'data_prefix.img_path (the image folder(s)).')
        if isinstance(img_dirs, str):
            return [img_dirs]
        if not img_dirs:
            raise ValueError('data_prefix.img_path is an empty list: name '
                             'the image folder(s).')
        return list(img_dirs)

    def _exists(self, path: str) -> bool:
        return fileio.exists(path, backend_args=self.backend_args)

    def _split_samples(self, img_dirs: List[str],
                       defects: List[DataDefect]) -> List[Tuple[str, str]]:
        """``(stem, image path)`` of every stem of the split file.

        With several image folders each stem is looked up in all of them;
        a stem found in none or in several is added to ``defects``.
        """
        if not fileio.exists(self.ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'Split file {self.ann_file} does not exist: set ann_file '
                '(relative to data_root) to one of the split files.')
        # Own parsing rather than the parent's: a blank line there turns
        # into a sample named '' (e.g. 'images/.png').
        lines = mmengine.list_from_file(
            self.ann_file, backend_args=self.backend_args)
        stems = [line.strip() for line in lines if line.strip()]
        out = []
        for stem in stems:
            paths = [osp.join(d, stem + self.img_suffix) for d in img_dirs]
            if len(paths) > 1:
                found = [p for p in paths if self._exists(p)]
                if not found:
                    defects.append(
                        DataDefect(
                            paths[0], 'image missing, and in none of the '
                            'other image folders ' + ', '.join(img_dirs[1:]),
                            self._fix('missing_img', dict(stem=stem))))
                elif len(found) > 1:
                    defects.append(
                        DataDefect(
                            found[1], f'stem {stem!r} has an image in '
                            'several folders: ' + ', '.join(found),
                            self._fix('ambiguous', dict(stem=stem))))
                paths = found or paths
            out.append((stem, paths[0]))
        return out

    def _raise_no_samples(self, img_dirs: List[str]) -> None:
        """Fail on a split or folders without a single sample.

        mmengine would otherwise fail later with numpy's 'need at least one
        array to concatenate', naming nothing.
        """
        if self.ann_file and not osp.isdir(self.ann_file):
            raise ValueError(
                f'The split file {self.ann_file} lists no stem (it is empty '
                'or blank): it needs one image stem per line. Set ann_file '
                '(relative to data_root, e.g. the dataloader\'s '
                'dataset.ann_file) to a split file that lists the images, '
                'or ann_file=\'\' to take every image of '
                'data_prefix.img_path.')
        raise FileNotFoundError(
            f'No {self.img_suffix} image in {", ".join(img_dirs)} '
            '(searched recursively). Set data_root and data_prefix.img_path '
            f'to the image folder, and img_suffix (now {self.img_suffix!r}) '
            'to the suffix of its images.')

    def _folder_samples(self, img_dirs: List[str],
                        defects: List[DataDefect]) -> List[Tuple[str, str]]:
        """``(stem, image path)`` of every image in the folders, sorted."""
        out, first = [], {}
        for img_dir in img_dirs:
            if self._local and not osp.isdir(img_dir):
                raise FileNotFoundError(
                    f'The image folder {img_dir} does not exist. Set '
                    f'data_root (now {self.data_root!r}) and '
                    'data_prefix.img_path of the dataset (e.g. '
                    'train_dataloader.dataset.data_root) to the folder of '
                    'the images.')
            names = sorted(
                fileio.list_dir_or_file(
                    dir_path=img_dir,
                    list_dir=False,
                    suffix=self.img_suffix,
                    recursive=True,
                    backend_args=self.backend_args))
            for name in names:
                stem = name[:-len(self.img_suffix)]
                path = osp.join(img_dir, name)
                if stem in first:
                    defects.append(
                        DataDefect(
                            path, f'stem {stem!r} has an image in several '
                            f'folders: {first[stem]}, {path}',
                            self._fix('ambiguous', dict(stem=stem))))
                    continue
                first[stem] = path
                out.append((stem, path))
        return out

    def load_data_list(self) -> List[dict]:
        """Build the sample list from the split file (or the image folders).

        Returns:
            list[dict]: One dict per image with ``img_path``,
            ``seg_map_path``, ``label_map``, ``reduce_zero_label`` and
            ``seg_fields``.

        Raises:
            FileNotFoundError: If the split file is missing.
            DatasetDefectError: (a ``FileNotFoundError`` and a
                ``ValueError``) listing every defect the checks found
                (``check_files``, ``check_mask_values``).
        """
        img_dirs = self._img_dirs()
        ann_dir = self.data_prefix.get('seg_map_path', None)
        defects: List[DataDefect] = []
        if self.ann_file and not osp.isdir(self.ann_file):
            pairs = self._split_samples(img_dirs, defects)
        else:
            pairs = self._folder_samples(img_dirs, defects)
        if not pairs and not defects:
            self._raise_no_samples(img_dirs)
        label_map = self._mask_label_map()
        data_list, samples = [], []
        for stem, img_path in pairs:
            info = dict(img_path=img_path)
            if ann_dir is not None:
                info['seg_map_path'] = osp.join(ann_dir,
                                                stem + self.seg_map_suffix)
            samples.append(dict(info, stem=stem))
            info.update(
                label_map=label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[])
            data_list.append(info)

        if self.check_files:
            # Missing images of a multi-folder lookup are reported above.
            reported = {d.path for d in defects}
            defects += check_pair_headers(
                samples,
                self._fix,
                exists=lambda p: p in reported or self._exists(p),
                read_headers=self._local)
        if self.check_mask_values:
            # Masks already found multi-channel or unreadable: one defect.
            known = {
                d.path
                for d in defects
                if 'channels' in d.problem or 'unreadable' in d.problem
            }
            defects += check_mask_values(
                [s for s in samples if s.get('seg_map_path') not in known],
                self._allowed_mask_values(), lambda s: self._fix('values', s),
                self._read_mask)
        if self.check_files or self.check_mask_values:
            self._raise_defects(defects, len(samples))
        return data_list

    @property
    def _local(self) -> bool:
        """Whether files are on the local disk (headers read in place)."""
        backend = fileio.get_file_backend(
            self.data_root or '.', backend_args=self.backend_args)
        return isinstance(backend, fileio.LocalBackend)

    def _allowed_mask_values(self) -> Set[int]:
        return {0, 1, self.mask_foreground_value}

    def _read_mask(self, path: str) -> np.ndarray:
        # Same decoder as LoadAnnotations' default, so the check sees
        # exactly the array the pipeline will see.
        return mmcv.imfrombytes(
            fileio.get(path, backend_args=self.backend_args),
            flag='unchanged',
            backend='pillow')

    def _fix(self, kind: str, sample: Dict[str, str]) -> str:
        """The fix of a defect ``kind`` of ``sample``, naming config keys."""
        stem = sample.get('stem', '?')
        drop = (f', or remove {stem!r} from {self.ann_file}'
                if self.ann_file and not osp.isdir(self.ann_file) else '')
        img_keys = (f'img_suffix (now {self.img_suffix!r}) and '
                    'data_prefix.img_path (now '
                    f'{self.data_prefix.get("img_path")!r})')
        mask_keys = (f'seg_map_suffix (now {self.seg_map_suffix!r}) and '
                     'data_prefix.seg_map_path (now '
                     f'{self.data_prefix.get("seg_map_path")!r})')
        fg = self.mask_foreground_value
        fixes = {
            'missing_img':
            f'put the image there{drop}; other names are set by {img_keys}',
            'missing_mask':
            f'put the mask there{drop}; other names are set by {mask_keys}',
            'ambiguous':
            'keep one of the files, or rename one stem and its mask',
            'size':
            'resize the mask to its image\'s size with nearest-neighbour '
            f'interpolation (keeps it binary) or re-export it{drop}',
            'mask_channels':
            'save the mask as a single-channel PNG (e.g. Pillow '
            f'.convert(\'L\'), values 0 and {fg}){drop}',
            'unreadable_img':
            f'replace or re-export the image{drop}',
            'unreadable_mask':
            f'replace or re-export the mask{drop}',
            'values':
            f'binarise the mask to 0 / {fg} (target pixels {fg}){drop}; a '
            'mask whose target has another value needs '
            f'mask_foreground_value (now {fg})',
        }
        return fixes[kind]

    def _raise_defects(self, defects: List[DataDefect], num: int) -> None:
        """Raise one :class:`DatasetDefectError` listing every defect."""
        if not defects:
            return
        source = (f'{type(self).__name__} of {self.ann_file or "the image "}'
                  f'{"" if self.ann_file else "folder(s)"} ({num} samples)')
        hint = ''
        missing_masks = sum(d.problem == 'mask missing' for d in defects)
        if num and missing_masks == num:
            hint = ('Every mask is missing: seg_map_suffix (now '
                    f'{self.seg_map_suffix!r}) or data_prefix.seg_map_path '
                    'is probably wrong (NUAA-SIRST and SIRST-v2 name masks '
                    "'<stem>_pixels0.png').")
        raise DatasetDefectError(source, defects, hint)
