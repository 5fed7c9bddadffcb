"""The inputs of curation: image files under raw folders, or a manifest."""
from __future__ import annotations
import os
import posixpath
from dataclasses import dataclass
from typing import List, Optional, Sequence

from ..datasets.metainfo import IMAGE_SUFFIXES

__all__ = ['IMAGES_DIR', 'SourceImage', 'find_images', 'read_manifest_images']

#: Sub-folder of the output folder that receives copied or linked images.
IMAGES_DIR = 'images'


@dataclass(frozen=True)
class SourceImage:
    """One input file.

    Attributes:
        path (str): The path as found (raw folder joined with the relative
            path, so relative when the raw folder was given relative).
        image_id (str): ``<source label>/<relative path>`` with ``/``
            separators; the sort key, and the path under ``images/`` when
            files are copied.
        source (str): The source it is counted under in the statistics:
            ``<label>/<first sub-folder>``, or ``<label>`` for files at the top
            of a raw folder.
    """
    path: str
    image_id: str
    source: str


def _source_of(image_id: str) -> str:
    parts = image_id.split('/')
    return '/'.join(parts[:2]) if len(parts) > 2 else parts[0]


def source_labels(raw_dirs: Sequence[str]) -> List[str]:
    """Folder names, made unique with ``_2``, ``_3``, ...

    in given order.
    """
    labels: List[str] = []
    for raw_dir in raw_dirs:
        base = os.path.basename(os.path.normpath(os.path.abspath(raw_dir)))
        label, n = base or 'root', 1
        while label in labels:
            n += 1
            label = f'{base or "root"}_{n}'
        labels.append(label)
    return labels


def find_images(
    raw_dirs: Sequence[str], exclude_dirs: Sequence[str] = ()
) -> List[SourceImage]:
    """Every image file under the raw folders, sorted by id.

    Args:
        raw_dirs (Sequence[str]): Folders searched recursively.
        exclude_dirs (Sequence[str]): Folders not entered (e.g. the output
            folder when it lies inside a raw folder).

    Returns:
        list[SourceImage]: Sorted by ``image_id``. A file reachable from two
        raw folders is listed once, under the first.

    Raises:
        FileNotFoundError: If a raw folder does not exist.
    """
    excluded = {os.path.abspath(d) for d in exclude_dirs}
    seen = set()
    images = []
    for raw_dir, label in zip(raw_dirs, source_labels(raw_dirs)):
        if not os.path.isdir(raw_dir):
            raise FileNotFoundError(f'raw folder not found: {raw_dir}')
        for dirpath, dirnames, filenames in os.walk(raw_dir):
            dirnames[:] = [
                d for d in dirnames
                if os.path.abspath(os.path.join(dirpath, d)) not in excluded
            ]
            for name in filenames:
                if os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                    continue
                path = os.path.join(dirpath, name)
                key = os.path.abspath(path)
                if key in seen:
                    continue
                seen.add(key)
                rel = os.path.relpath(path, raw_dir).replace(os.sep, '/')
                image_id = f'{label}/{rel}'
                images.append(
                    SourceImage(path, image_id, _source_of(image_id)))
    images.sort(key=lambda image: image.image_id)
    return images


def read_manifest_images(manifest: str,
                         data_root: Optional[str] = None) -> List[SourceImage]:
    """The images listed in a manifest, as :class:`SourceImage`.

    Args:
        manifest (str): Text file with one path per line.
        data_root (str, optional): Folder the paths are relative to.
            Defaults to the manifest's folder (as in the configs, where the
            manifest lies in ``data_root``).

    Returns:
        list[SourceImage]: In manifest order. Ids are the listed paths without
        leading ``../`` parts and without the ``images/`` folder of copied
        sets, so sources read like those of :func:`find_images`.
    """
    root = os.path.dirname(manifest) if data_root is None else data_root
    images = []
    with open(manifest, encoding='utf-8') as f:
        for line in f:
            entry = line.rstrip('\n\r')
            if not entry.strip():
                continue
            parts = [
                p for p in posixpath.normpath(entry.replace(
                    os.sep, '/')).split('/') if p not in ('', '..')
            ]
            if len(parts) > 1 and parts[0] == IMAGES_DIR:
                parts = parts[1:]
            image_id = '/'.join(parts)
            images.append(
                SourceImage(
                    os.path.join(root, entry), image_id, _source_of(image_id)))
    return images
