"""Writers of small generated datasets in the layouts of the public ones.

Unlabeled pre-training folders, MSRS (segmentation), M3FD (detection, Pascal
VOC XML) and IRSTD-1k (small-target segmentation), drawn by
:mod:`infmae_mm.testing.synthetic`. Every file is written atomically; image
``i`` of a writer depends only on the seed and ``i``.
"""
from __future__ import annotations
import os
import xml.etree.ElementTree as ET
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..utils.io import atomic_imwrite, atomic_write_bytes, atomic_write_text
from .synthetic import (SCENE_TO_M3FD, Box, SizeSpec, check_size, image_rng,
                        make_ir_image, make_ir_scene, make_irstd_sample,
                        pick_size)

__all__ = [
    'write_pretrain_folder', 'write_msrs_like', 'write_m3fd_like',
    'write_irstd_like', 'write_irstd_layout', 'IRSTD_LAYOUTS'
]

#: Pre-training sources: sub-folder -> scene kinds drawn there.
_PRETRAIN_SOURCES = (
    ('source_a', ('street', )),
    ('source_b/seq_000', ('clouds', 'sea')),
    ('source_b/seq_001', ('buildings', 'ground', 'street')),
)


def write_pretrain_folder(root: str,
                          num_images: int = 64,
                          size: SizeSpec = (256, 256),
                          seed: int = 0,
                          bit_depth: int = 8,
                          suffix: str = '.png') -> List[str]:
    """Write an unlabeled pre-training folder of infrared-like images.

    Images are spread over nested sub-folders that mimic several sources:
    ``source_a/`` (street scenes) and ``source_b/seq_000/``,
    ``source_b/seq_001/`` (sky/sea and building/field clutter). Each file is
    written atomically.

    Args:
        root: Output folder (created if needed).
        num_images: Number of images.
        size: ``(H, W)`` for a fixed size, or ``((h_min, h_max), (w_min,
            w_max))`` for a random size per image (inclusive ranges).
        seed: Random seed; image ``i`` depends only on ``seed`` and ``i``.
        bit_depth: 8 or 16 (16 needs a suffix that stores uint16, e.g.
            ``'.png'`` or ``'.tif'``).
        suffix: Image file suffix.

    Returns:
        list[str]: Paths of the written images, in index order.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f'bit_depth must be 8 or 16, got {bit_depth}')
    if not suffix.startswith('.'):
        suffix = '.' + suffix
    if bit_depth == 16 and suffix.lower() not in ('.png', '.tif', '.tiff',
                                                  '.pgm'):
        raise ValueError(f'{suffix} cannot store 16-bit images; use .png '
                         'or .tif')
    paths = []
    for i in range(int(num_images)):
        rng = image_rng(seed, 0, i)
        sub, kinds = _PRETRAIN_SOURCES[i % len(_PRETRAIN_SOURCES)]
        h, w = pick_size(rng, size)
        img = make_ir_image(
            rng, h, w, bit_depth=bit_depth, kind=str(rng.choice(kinds)))
        path = os.path.join(root, sub, f'ir_{i:05d}{suffix}')
        atomic_imwrite(path, img)
        paths.append(path)
    return paths


def write_msrs_like(root: str,
                    num_train: int = 8,
                    num_test: int = 4,
                    size: Tuple[int, int] = (480, 640),
                    seed: int = 0) -> Dict[str, List[str]]:
    """Write an MSRS-like infrared segmentation dataset.

    Layout: ``root/{train,test}/ir/<stem>.png`` (uint8 gray) and
    ``root/{train,test}/Segmentation_labels/<stem>.png`` (uint8 class ids
    0..8, see :data:`~infmae_mm.datasets.metainfo.MSRS_CLASSES`). Stems look
    like MSRS's: ``00001D`` (day) or ``00002N`` (night).

    Args:
        root: Output folder.
        num_train: Number of training pairs.
        num_test: Number of test pairs.
        size: ``(H, W)``.
        seed: Random seed.

    Returns:
        dict: ``{'train': [stems], 'test': [stems]}``.
    """
    h, w = check_size(size)
    out: Dict[str, List[str]] = {}
    splits = (('train', num_train), ('test', num_test))
    for tag, (split, n) in enumerate(splits, start=1):
        stems = []
        for i in range(int(n)):
            rng = image_rng(seed, tag, i)
            night = bool(rng.random() < 0.5)
            img, label, _ = make_ir_scene(rng, h, w, night=night)
            stem = f'{i + 1:05d}{"N" if night else "D"}'
            atomic_imwrite(os.path.join(root, split, 'ir', stem + '.png'), img)
            atomic_imwrite(
                os.path.join(root, split, 'Segmentation_labels',
                             stem + '.png'), label)
            stems.append(stem)
        out[split] = stems
    return out


def _voc_xml(stem: str, w: int, h: int, depth: int,
             objects: Sequence[Box]) -> bytes:
    ann = ET.Element('annotation')
    ET.SubElement(ann, 'folder').text = 'Ir'
    ET.SubElement(ann, 'filename').text = stem + '.png'
    src = ET.SubElement(ann, 'source')
    ET.SubElement(src, 'database').text = 'synthetic M3FD-like'
    sz = ET.SubElement(ann, 'size')
    ET.SubElement(sz, 'width').text = str(w)
    ET.SubElement(sz, 'height').text = str(h)
    ET.SubElement(sz, 'depth').text = str(depth)
    ET.SubElement(ann, 'segmented').text = '0'
    for x1, y1, x2, y2, name in objects:
        ob = ET.SubElement(ann, 'object')
        ET.SubElement(ob, 'name').text = name
        ET.SubElement(ob, 'pose').text = 'Unspecified'
        trunc = int(x1 <= 0 or y1 <= 0 or x2 >= w or y2 >= h)
        ET.SubElement(ob, 'truncated').text = str(trunc)
        ET.SubElement(ob, 'difficult').text = '0'
        bb = ET.SubElement(ob, 'bndbox')
        for k, v in zip(('xmin', 'ymin', 'xmax', 'ymax'), (x1, y1, x2, y2)):
            ET.SubElement(bb, k).text = str(int(v))
    if hasattr(ET, 'indent'):
        ET.indent(ann)
    return ET.tostring(ann, encoding='utf-8', xml_declaration=False) + b'\n'


def write_m3fd_like(root: str,
                    num_images: int = 12,
                    size: Tuple[int, int] = (768, 1024),
                    seed: int = 0) -> List[str]:
    """Write an M3FD-like infrared detection dataset.

    Layout: ``root/Ir/<stem>.png`` (uint8 gray) and
    ``root/Annotation/<stem>.xml`` in Pascal VOC format (``filename``,
    ``size`` with ``width``/``height``/``depth`` = 1, and one ``object`` per
    box with ``name`` in :data:`~infmae_mm.datasets.metainfo.M3FD_CLASSES`
    and ``bndbox`` ``xmin``/``ymin``/``xmax``/``ymax`` as integer pixel
    coordinates with ``0 <= xmin < xmax <= width``). Stems are ``00000``,
    ``00001``, ...

    Args:
        root: Output folder.
        num_images: Number of images.
        size: ``(H, W)``; the real data is 768 x 1024, smaller is fine.
        seed: Random seed.

    Returns:
        list[str]: The stems written.
    """
    h, w = check_size(size)
    stems = []
    for i in range(int(num_images)):
        rng = image_rng(seed, 10, i)
        img, _, boxes = make_ir_scene(rng, h, w)
        objs = [(x1, y1, x2, y2, SCENE_TO_M3FD[n])
                for x1, y1, x2, y2, n in boxes if n in SCENE_TO_M3FD]
        stem = f'{i:05d}'
        atomic_imwrite(os.path.join(root, 'Ir', stem + '.png'), img)
        atomic_write_bytes(
            os.path.join(root, 'Annotation', stem + '.xml'),
            _voc_xml(stem, w, h, 1, objs))
        stems.append(stem)
    return stems


def write_irstd_like(root: str,
                     num_trainval: int = 8,
                     num_test: int = 4,
                     size: Tuple[int, int] = (512, 512),
                     seed: int = 0) -> Dict[str, List[str]]:
    """Write an IRSTD-1k-like small-target segmentation dataset.

    Layout: ``root/images/<stem>.png`` (uint8 gray), ``root/masks/<stem>.png``
    (0/255), and ``root/trainval.txt`` / ``root/test.txt`` listing the stems
    one per line. Stems are ``XDU0``, ``XDU1``, ... Targets cover 1-60 pixels
    each; some images have none.

    Args:
        root: Output folder.
        num_trainval: Number of train/val images.
        num_test: Number of test images.
        size: ``(H, W)``.
        seed: Random seed.

    Returns:
        dict: ``{'trainval': [stems], 'test': [stems]}``.
    """
    h, w = check_size(size)
    stems = [f'XDU{i}' for i in range(int(num_trainval) + int(num_test))]
    for i, stem in enumerate(stems):
        rng = image_rng(seed, 20, i)
        img, mask = make_irstd_sample(rng, h, w)
        atomic_imwrite(os.path.join(root, 'images', stem + '.png'), img)
        atomic_imwrite(os.path.join(root, 'masks', stem + '.png'), mask)
    split = {
        'trainval': stems[:int(num_trainval)],
        'test': stems[int(num_trainval):]
    }
    for name, lst in split.items():
        atomic_write_text(
            os.path.join(root, f'{name}.txt'), ''.join(s + '\n' for s in lst))
    return split


#: IRSTD layouts :func:`write_irstd_layout` writes, with their split files.
IRSTD_LAYOUTS = ('irstd1k', 'sirst-v2', 'nuaa-sirst', 'nudt-sirst')


def _png_bytes(img, mode: str) -> bytes:
    """``img`` (H, W) uint8 encoded as a PNG of Pillow mode ``mode``."""
    import io

    from PIL import Image
    gray = Image.fromarray(img, mode='L')
    out = io.BytesIO()
    gray.convert(mode).save(out, format='PNG')
    return out.getvalue()


def write_irstd_layout(root: str,
                       layout: str,
                       num_images: int = 12,
                       size: SizeSpec = ((40, 72), (48, 96)),
                       seed: int = 0) -> Dict[str, List[str]]:
    """Write a small IRSTD set in the folder layout of a public one.

    Layouts (see ``configs/irstd/_base_/datasets/``):

    * ``'irstd1k'``: ``images/XDU<i>.png``, ``masks/XDU<i>.png``,
      ``trainval.txt`` / ``test.txt``;
    * ``'sirst-v2'``: ``images/targets/<stem>.png`` (frames with targets)
      and ``images/backgrounds/<stem>.png`` (target-free, empty masks),
      ``annotations/masks/<stem>_pixels0.png`` for both, and
      ``splits/{train,val,trainval,test}_full.txt`` of bare stems; every
      third image is stored as RGB and every fifth as a palette PNG, as some
      of the real ones are;
    * ``'nuaa-sirst'``: ``images/Misc_<i>.png``,
      ``masks/Misc_<i>_pixels0.png``, ``idx_427/{trainval,test}.txt``;
    * ``'nudt-sirst'``: ``images/<6 digits>.png``, ``masks/<same>.png``,
      ``img_idx/{train,test}_NUDT-SIRST.txt``.

    Masks are 0/255 uint8 gray PNGs of the image's size. A quarter of the
    images go to test; SIRST-v2's trainval is split 2:1 into train and val.

    Args:
        root: Output folder.
        layout: One of :data:`IRSTD_LAYOUTS`.
        num_images: Number of images (at least 4).
        size: ``(H, W)``, or ``((h_min, h_max), (w_min, w_max))`` for a
            random size per image (the real sets mix sizes).
        seed: Random seed.

    Returns:
        dict: Split file (relative to ``root``) -> its stems.
    """
    if layout not in IRSTD_LAYOUTS:
        raise ValueError(f'layout must be one of {IRSTD_LAYOUTS}, got '
                         f'{layout!r}')
    n = int(num_images)
    if n < 4:
        raise ValueError(f'num_images must be at least 4, got {n}')
    if layout == 'irstd1k':
        stems = [f'XDU{i}' for i in range(n)]
    elif layout == 'sirst-v2':
        stems = [(f'Misc_{i + 1}' if i % 2 else f'202105-Enhance-{i + 1}')
                 for i in range(n)]
    elif layout == 'nuaa-sirst':
        stems = [f'Misc_{i + 1}' for i in range(n)]
    else:
        stems = [f'{i + 1:06d}' for i in range(n)]
    mask_suffix = '_pixels0.png' if layout in ('sirst-v2',
                                               'nuaa-sirst') else '.png'
    for i, stem in enumerate(stems):
        rng = image_rng(seed, 21, i)
        h, w = pick_size(rng, size)
        background = layout == 'sirst-v2' and i % 4 == 2
        # SIRST-v2 keeps every target-free frame under backgrounds/.
        num_targets = (0 if background else 1 +
                       i % 3) if layout == 'sirst-v2' else None
        img, mask = make_irstd_sample(rng, h, w, num_targets=num_targets)
        if layout == 'sirst-v2':
            folder = 'images/backgrounds' if background else 'images/targets'
            img_path = os.path.join(root, folder, stem + '.png')
            mask_path = os.path.join(root, 'annotations/masks',
                                     stem + mask_suffix)
        else:
            img_path = os.path.join(root, 'images', stem + '.png')
            mask_path = os.path.join(root, 'masks', stem + mask_suffix)
        if layout == 'sirst-v2' and i % 5 == 4:
            atomic_write_bytes(img_path, _png_bytes(img, 'P'))
        elif layout == 'sirst-v2' and i % 3 == 1:
            atomic_imwrite(img_path, np.repeat(img[..., None], 3, axis=2))
        else:
            atomic_imwrite(img_path, img)
        atomic_imwrite(mask_path, mask)
    num_test = max(1, n // 4)
    trainval, test = stems[:-num_test], stems[-num_test:]
    if layout == 'irstd1k':
        splits = {'trainval.txt': trainval, 'test.txt': test}
    elif layout == 'sirst-v2':
        num_val = max(1, len(trainval) // 3)
        splits = {
            'splits/train_full.txt': trainval[:-num_val],
            'splits/val_full.txt': trainval[-num_val:],
            'splits/trainval_full.txt': trainval,
            'splits/test_full.txt': test,
        }
    elif layout == 'nuaa-sirst':
        splits = {'idx_427/trainval.txt': trainval, 'idx_427/test.txt': test}
    else:
        splits = {
            'img_idx/train_NUDT-SIRST.txt': trainval,
            'img_idx/test_NUDT-SIRST.txt': test
        }
    for name, lst in splits.items():
        atomic_write_text(
            os.path.join(root, name), ''.join(s + '\n' for s in lst))
    return splits
