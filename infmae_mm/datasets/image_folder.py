"""InfraredImageFolder: a pre-training folder that survives bad files."""
import logging
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.dist import get_rank
from mmengine.fileio import LocalBackend, get_file_backend, list_from_file
from mmengine.logging import print_log
from mmpretrain.datasets import CustomDataset
from torch.utils.data import get_worker_info

from infmae_mm.datasets.image_decoding import ImageDecodeError
from infmae_mm.datasets.metainfo import IMAGE_SUFFIXES
from infmae_mm.registry import register_in_hosts


def walk_images(
        root: str,
        is_valid: Callable[[str], bool]) -> Tuple[List[str], Dict[str, str]]:
    """Every image file under ``root``, surviving loops and bad entries.

    Follows symbolic links to folders, but enters each real folder once: a
    link back to a folder already entered (a loop, or a second link to the
    same folder) is skipped. A folder that cannot be listed, an entry that
    cannot be examined (too many levels of links, no permission) and a
    broken link with an image suffix are skipped too. Nothing raises.

    Args:
        root (str): A local folder.
        is_valid (Callable[[str], bool]): Whether a path relative to
            ``root`` is an image (by its suffix).

    Returns:
        tuple: The images' paths relative to ``root`` (``/``-separated,
        sorted), and ``{path: reason}`` of every entry skipped.
    """
    images: List[str] = []
    skipped: Dict[str, str] = {}
    entered: Dict[Tuple[int, int], str] = {}
    try:
        st = os.stat(root)
        entered[(st.st_dev, st.st_ino)] = root
    except OSError:
        pass
    stack = [(root, '')]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            skipped[folder] = f'folder cannot be listed ({err.strerror})'
            continue
        subfolders = []
        for entry in entries:
            path = entry.path
            rel_path = f'{rel}{entry.name}'
            try:
                if entry.is_dir():
                    st = entry.stat()
                    key = (st.st_dev, st.st_ino)
                    if key in entered:
                        skipped[path] = (
                            'symbolic link to a folder already listed '
                            f'({entered[key]}): a loop or a duplicate')
                        continue
                    entered[key] = path
                    subfolders.append((path, rel_path + '/'))
                elif entry.is_file():
                    if is_valid(rel_path):
                        images.append(rel_path)
                elif entry.is_symlink() and is_valid(rel_path):
                    skipped[path] = 'broken symbolic link'
            except OSError as err:
                skipped[path] = f'cannot be examined ({err.strerror})'
        stack.extend(reversed(subfolders))
    return sorted(images), skipped


@register_in_hosts('DATASETS', hosts=('mmpretrain', ))
class InfraredImageFolder(CustomDataset):
    """Mmpretrain's ``CustomDataset`` for large, imperfect infrared folders.

    Images are every file with one of ``extensions`` (any case) under the
    folder, searched recursively, or the lines of ``ann_file`` (e.g. a
    curation manifest), exactly as in ``CustomDataset``. Two things differ:

    * **Start-up checks.** A missing folder, a folder without a single image
      or an empty ``ann_file`` fails when the dataset is built, naming the
      folder (or file) and the accepted suffixes. With ``with_label=True``
      and an ``ann_file``, a line without an integer label fails at start
      too, naming the file and line. Blank lines of an ``ann_file`` are
      ignored; listed images that do not exist (local disk) are left out
      with one warning (an error with ``skip_unreadable=False``), and a list
      of which no image exists fails, naming ``data_root``.
    * **Bad folder entries are skipped.** The folder is walked following
      symbolic links, each real folder once: a link that loops back, a
      folder that cannot be listed and an entry that cannot be examined are
      skipped with one warning naming each (``skipped_entries``), instead of
      failing the build (local folders; see :func:`walk_images`).
    * **Unreadable images are skipped.** When the pipeline's
      ``LoadThermalImage`` cannot read an image (missing, empty, truncated,
      not an image) the next index is used instead (deterministic; up to
      ``max_refetch`` images in a row), and a warning names the file, why it
      failed, and the running count of skipped files. A long run is not
      lost to one bad file out of millions; curate the set
      (``tools/data/curate_pretrain_data.py``) to drop them for good.

    The count is per process: each dataloader worker (and each rank) counts
    the bad files it has met, and its warnings say which worker it is. A
    file is reported once per process (a file met by two workers is
    reported by both); with ``persistent_workers=False`` workers restart
    every epoch and report again. Only ``ImageDecodeError`` (what
    ``LoadThermalImage`` raises) is skipped; other errors still stop the
    run. mmengine's own retry of a pipeline returning None is unchanged.

    Args:
        data_root (str): Root of ``data_prefix`` and ``ann_file``.
            Defaults to ''.
        data_prefix (str | dict): Image folder under ``data_root``.
            Defaults to ''.
        ann_file (str): Optional list of images, one path per line
            (``path label`` with ``with_label=True``). Defaults to ''.
        with_label (bool): Whether samples have class labels. Defaults to
            False (pre-training).
        extensions (Sequence[str]): Accepted suffixes. Defaults to
            ``('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.pgm')``.
        skip_unreadable (bool): Skip unreadable images as described; False
            makes them fail the run. Defaults to True.
        config_key (str): Where this dataset sits in the config, named by
            the start-up errors as the key to fix (``data_root`` under it).
            Defaults to ``'train_dataloader.dataset'``; the held-out and
            test loaders of the shipped configs set
            ``'val_dataloader.dataset'`` / ``'test_dataloader.dataset'``.
        **kwargs: Other ``CustomDataset`` / ``BaseDataset`` arguments
            (``pipeline``, ``max_refetch``, ``lazy_init`` ...).
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 ann_file: str = '',
                 with_label: bool = False,
                 extensions: Sequence[str] = IMAGE_SUFFIXES,
                 skip_unreadable: bool = True,
                 config_key: str = 'train_dataloader.dataset',
                 **kwargs) -> None:
        self.skip_unreadable = skip_unreadable
        self.config_key = config_key
        # path -> reason, for the files this process has skipped.
        self._skipped: Dict[str, str] = {}
        # folder entry -> reason, skipped when the folder was walked.
        self.skipped_entries: Dict[str, str] = {}
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix,
            ann_file=ann_file,
            with_label=with_label,
            extensions=extensions,
            **kwargs)

    @property
    def skipped_files(self) -> Dict[str, str]:
        """The files this process skipped so far, with the reasons."""
        return dict(self._skipped)

    def _suffixes(self) -> str:
        return ' '.join(sorted(self.extensions))

    def _folder_fix(self) -> str:
        key = self.config_key
        return (f'Set {key}.data_root (and {key}.data_prefix) to the folder '
                'of your images.')

    def _check_folder(self) -> None:
        """Fail early, and helpfully, when the folder holds no image."""
        folder = self.img_prefix
        fix = self._folder_fix()
        backend = get_file_backend(folder, enable_singleton=True)
        files = backend.list_dir_or_file(
            folder, list_dir=False, list_file=True, recursive=True)
        try:
            # Stops at the first image: cheap however large the folder is.
            found = any(self.is_valid_file(name) for name in files)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(
                f'The image folder {folder} does not exist or is not a '
                f'folder. {fix}') from None
        if not found:
            raise FileNotFoundError(
                f'No image found in {folder} (searched recursively for the '
                f'suffixes {self._suffixes()}, any case). {fix} Other '
                f'suffixes are added with {self.config_key}.extensions=(...).')

    def _check_labels(self) -> None:
        """Every line of a labelled ``ann_file`` ends with an integer."""
        for number, line in enumerate(list_from_file(self.ann_file), 1):
            parts = line.strip().rsplit(' ', 1)
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(
                    f'{self.ann_file}, line {number}: {line.strip()!r} has no '
                    'integer label; with_label=True needs "path label" '
                    'lines (pre-training lists need with_label=False).')

    def _find_samples(self) -> list:
        """The images of a local folder by :func:`walk_images`."""
        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        if not isinstance(backend, LocalBackend):
            return super()._find_samples()
        if not os.path.isdir(self.img_prefix):
            raise FileNotFoundError(
                f'The image folder {self.img_prefix} does not exist or is '
                f'not a folder. {self._folder_fix()}')
        if self.with_label:
            classes = sorted(
                e.name for e in os.scandir(self.img_prefix) if e.is_dir())
            self.folder_to_idx = {c: i for i, c in enumerate(classes)}
            if self.CLASSES is None:
                self._metainfo['classes'] = tuple(classes)
            samples = []
            for cls_name, idx in self.folder_to_idx.items():
                files, skipped = walk_images(
                    os.path.join(self.img_prefix, cls_name),
                    self.is_valid_file)
                self.skipped_entries.update(skipped)
                samples += [(f'{cls_name}/{f}', idx) for f in files]
        else:
            samples, self.skipped_entries = walk_images(
                self.img_prefix, self.is_valid_file)
        if self.skipped_entries:
            shown = '\n  '.join(
                f'{path}: {reason}'
                for path, reason in list(self.skipped_entries.items())[:20])
            more = len(self.skipped_entries) - 20
            print_log(
                f'Skipped {len(self.skipped_entries)} entr'
                f'{"y" if len(self.skipped_entries) == 1 else "ies"} of '
                f'{self.img_prefix} while listing its images:\n  {shown}' +
                (f'\n  ... and {more} more' if more > 0 else ''),
                logger='current',
                level=logging.WARNING)
        if not samples:
            raise FileNotFoundError(
                f'No image found in {self.img_prefix} (searched recursively '
                f'for the suffixes {self._suffixes()}, any case). '
                f'{self._folder_fix()} Other suffixes are added with '
                f'{self.config_key}.extensions=(...).')
        return samples

    def load_data_list(self) -> List[dict]:
        local = isinstance(
            get_file_backend(self.img_prefix, enable_singleton=True),
            LocalBackend)
        if not self.ann_file:
            if not local:  # local folders: checked by _find_samples
                self._check_folder()
        elif self.with_label:
            self._check_labels()
        data_list = super().load_data_list()
        if self.ann_file and not self.with_label:
            data_list = self._checked_list_entries(data_list, local)
        if not data_list:  # only an empty ann_file gets here
            raise ValueError(
                f'The image list {self.ann_file} is empty: it needs one image '
                f'path per line, relative to {self.img_prefix} (suffixes '
                f'{self._suffixes()}), or set {self.config_key}.ann_file=\'\' '
                'to read every image under the folder.')
        return data_list

    def _checked_list_entries(self, data_list: List[dict],
                              local: bool) -> List[dict]:
        """The entries of ``ann_file`` without its blank lines and, on a local
        disk, without the files that do not exist.

        A blank line would otherwise become the folder itself as an image,
        and listed files that are missing would only be met during training
        (one stat per line: about a second for a million lines). Missing
        files are dropped with one warning (``skip_unreadable=True``, as the
        pipeline skips unreadable images) or fail the build; a list of which
        no file exists fails, naming the keys that place it.
        """
        prefix = self.img_prefix.rstrip('/\\')
        data_list = [
            info for info in data_list
            if info['img_path'].strip().rstrip('/\\') != prefix
        ]
        if not local or not data_list:
            return data_list
        missing = [
            info['img_path'] for info in data_list
            if not os.path.isfile(info['img_path'])
        ]
        if not missing:
            return data_list
        key = self.config_key
        shown = ', '.join(missing[:5]) + (f' ... and {len(missing) - 5} more'
                                          if len(missing) > 5 else '')
        if len(missing) == len(data_list):
            raise FileNotFoundError(
                f'None of the {len(data_list)} images listed in '
                f'{self.ann_file} exists under {self.img_prefix} (e.g. '
                f'{missing[0]}). Its lines are paths relative to '
                f'{key}.data_root (with {key}.data_prefix): set '
                f'{key}.data_root to the folder the list was written for '
                '(curate_pretrain_data.py writes paths relative to its OUT '
                'folder).')
        if not self.skip_unreadable:
            raise FileNotFoundError(
                f'{len(missing)} of the {len(data_list)} images listed in '
                f'{self.ann_file} do not exist: {shown}. Remove them from '
                f'the list, or set {key}.skip_unreadable=True to skip them.')
        print_log(
            f'{len(missing)} of the {len(data_list)} images listed in '
            f'{self.ann_file} do not exist and are left out: {shown}.',
            logger='current',
            level=logging.WARNING)
        gone = set(missing)
        return [info for info in data_list if info['img_path'] not in gone]

    def _record_skip(self, error: ImageDecodeError, next_idx: int) -> None:
        path = error.path or '?'
        if path in self._skipped:
            return
        self._skipped[path] = error.reason
        worker = get_worker_info()
        where = 'main process' if worker is None else \
            f'dataloader worker {worker.id}'
        rank = get_rank()
        if rank:
            where = f'rank {rank} {where}'
        print_log(
            f'Skipped unreadable image {path} ({error.reason}); using the '
            f'next image (index {next_idx}) instead. {len(self._skipped)} '
            f'unreadable file(s) skipped so far by the {where}.',
            logger='current',
            level=logging.WARNING)

    def prepare_data(self, idx: int) -> Optional[dict]:
        if not self.skip_unreadable:
            return super().prepare_data(idx)
        tries = max(1, min(len(self), self.max_refetch + 1))
        error: Optional[ImageDecodeError] = None
        for _ in range(tries):
            try:
                return super().prepare_data(idx)
            except ImageDecodeError as e:
                error = e
                idx = (idx + 1) % len(self)
                self._record_skip(e, idx)
        raise RuntimeError(
            f'{tries} images in a row could not be read (the last: {error}). '
            f'Is {self.img_prefix} the right folder? Curate it with '
            'tools/data/curate_pretrain_data.py to list the unreadable files.')
