"""Convert the M3FD infrared release (Pascal VOC XML) to COCO JSON for mmdet.

Offline code: ``tools/dataset_converters/m3fd_to_coco.py`` is its command
line; the runtime dataset (:class:`~infmae_mm.datasets.M3FDInfDataset`)
shares only the class list (:mod:`infmae_mm.datasets.metainfo`) with it.

The pure pieces (VOC parsing, class mapping, box conversion, scene grouping,
splitting, COCO assembly) are importable one by one; :func:`convert_m3fd`
chains them over a dataset folder and ``tools/dataset_converters/
m3fd_to_coco.py`` is a thin command line around it. Only the standard
library, numpy and OpenCV are needed (no mmdet).

Input layout (the ``M3FD_Detection`` download)::

    M3FD_ROOT/Ir/00000.png ...           infrared images (Vis/ is not used)
    M3FD_ROOT/Annotation/00000.xml ...   one Pascal VOC file per image

Output (``OUT_DIR`` may be ``M3FD_ROOT`` itself)::

    OUT_DIR/annotations/m3fd_inf_{all,train,val}.json
    OUT_DIR/splits/{train,val}.txt       image stems, one per line

Image ``file_name`` is relative to ``M3FD_ROOT`` (``'Ir/00000.png'``), so a
config sets ``data_root=M3FD_ROOT`` and ``data_prefix=dict(img='')``. Image
and annotation ids are the same in all three JSON files (ids follow the
natural order of the stems over every usable image); the outputs contain no
time stamp, so a re-run with the same arguments rewrites identical bytes.

Rules:

* **Classes.** Category ids 1..6 are, in this fixed order, ``People, Car,
  Bus, Motorcycle, Lamp, Truck`` (:data:`M3FD_CLASSES`, the order mmdet
  users' M3FD configs use; TarDAL's own loader swaps Lamp and Motorcycle,
  so label indices from there do not carry over). A name that matches a
  class only after trimming/collapsing white space and ignoring case
  (``'people'``, ``'Car '``) is mapped to it and counted as *aliased*; any
  other name (``'Person'``, ``'Bicycle'``) is skipped with a message naming
  the file and the name, and counted. Names are never guessed.
* **Boxes.** VOC corners are read as continuous pixel-edge coordinates:
  ``x = xmin, y = ymin, w = xmax - xmin, h = ymax - ymin`` (no ``+1``). This
  matches mmdet's own VOC loading (which also uses ``xmax - xmin``) and the
  repository's synthetic writer (``xmax`` exclusive, ``xmax <= width``);
  with ``+1`` a box touching the right border would leave the image. The
  corners are clipped to ``[0, width] x [0, height]`` (counted when this
  changes a box) and a box whose clipped width or height is below
  ``min_box_size`` (default 1 px, the size mmdet's ``CocoDataset`` drops
  anyway) is dropped and counted. ``segmentation`` is the box polygon, so a
  Mask R-CNN trains on box-shaped masks; ``area = w * h``; ``iscrowd = 0``.
  The VOC ``difficult``/``truncated`` flags are not used.
* **Robustness.** Malformed XML, an XML whose image is missing or cannot
  be decoded, and an image without XML are skipped with a message; objects
  with a missing or non-numeric ``bndbox`` are skipped with a message. An
  XML without objects keeps its image with zero annotations (counted). If
  the XML ``size`` disagrees with the decoded image, the image wins (the
  XML ``filename`` tag is ignored: the XML file name names the image).
* **Split (default ``'scene'``).** M3FD has no official split and its
  images are frames of video sequences: consecutive frames are
  near-identical, so a random split puts almost the same picture in train
  and val and inflates val AP. The default therefore splits whole *scenes*:
  stems are walked in natural order and a new scene starts when

  - the stem's prefix changes or its trailing number does not follow the
    previous one (a jump in the numbering), or
  - the similarity of the two frames is below ``scene_threshold`` (0.5):
    the near-duplicate measure of data curation
    (:func:`infmae_mm.curation.near_duplicates.similarity`: 48x48
    thumbnails, local contrast normalised, best normalised correlation over
    shifts up to ~15% and per-axis scales 0.88-1.12, so camera motion is
    tolerated). Consecutive unrelated synthetic street scenes score <= 0.33;
    a copy moved by 3-8 % with changed gain and noise scores >= 0.86.
    Scenes use a lower threshold than near-duplicates (0.76): frames of one
    scene may drift further apart than near-duplicate frames.

  Scenes are then shuffled with ``seed`` and assigned to val while that
  brings the val image count closer to ``val_ratio``; the rest is train.
  ``'random'`` shuffles single images instead (comparable with papers that
  split M3FD at random, but leaky). Both are deterministic for a given seed
  and data; the split files are the record to version. The threshold has
  not been calibrated on the real release: check the scene statistics in
  the summary (too many one-frame scenes means ``scene_threshold`` is too
  high; one huge scene, too low).
"""
from __future__ import annotations
import json
import math
import os
import os.path as osp
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import cv2
import numpy as np

from ..curation.near_duplicates import similarity, thumbnail
from ..datasets.metainfo import IMAGE_SUFFIXES, M3FD_CLASSES
from ..utils.io import atomic_write_text
from ..version import __version__

__all__ = [
    'M3FD_CLASSES', 'SPLIT_METHODS', 'SKIPPED_IMAGE_REASONS',
    'SKIPPED_OBJECT_REASONS', 'KEPT_NOTES', 'VOCObject', 'VOCAnnotation',
    'ImageRecord', 'ConversionReport', 'DEFAULT_SCENE_THRESHOLD',
    'parse_voc_xml', 'resolve_class_name', 'voc_box_to_coco', 'box_polygon',
    'natural_key', 'split_stem', 'group_scenes', 'split_random',
    'split_scenes', 'build_coco', 'convert_m3fd', 'format_summary'
]

SPLIT_METHODS: Tuple[str, ...] = ('scene', 'random')
#: Smallest similarity (:func:`~infmae_mm.curation.near_duplicates.
#: similarity`) of consecutive frames of one scene.
DEFAULT_SCENE_THRESHOLD = 0.5
IMAGE_DIR = 'Ir'
ANN_DIR = 'Annotation'

#: Reasons an image is left out, with the summary's wording.
SKIPPED_IMAGE_REASONS: Dict[str, str] = {
    'malformed_xml': 'malformed XML',
    'missing_image': 'XML without image',
    'unreadable_image': 'image cannot be decoded',
    'missing_xml': 'image without XML',
}
#: Reasons an object is left out.
SKIPPED_OBJECT_REASONS: Dict[str, str] = {
    'unknown_class': 'unknown class name',
    'malformed_box': 'missing/non-numeric bndbox',
    'degenerate_box': 'degenerate box (w or h < min size)',
}
#: Things that were kept but are worth knowing.
KEPT_NOTES: Dict[str, str] = {
    'no_objects': 'images whose XML has no object',
    'aliased_class': 'objects with a case/space variant name',
    'clipped_box': 'boxes clipped to the image',
    'size_mismatch': 'XML size != image size (image used)',
}

Box = Tuple[float, float, float, float]
LogFn = Callable[[str], None]


@dataclass
class VOCObject:
    """One ``<object>`` of a VOC file.

    Attributes:
        name (str): The ``<name>`` text as written ('' when missing).
        bbox (tuple, optional): ``(xmin, ymin, xmax, ymax)``; None when the
            ``bndbox`` is missing or a coordinate is not a finite number.
    """
    name: str
    bbox: Optional[Box]


@dataclass
class VOCAnnotation:
    """The parts of a VOC file the converter uses.

    Attributes:
        width (int, optional): ``size/width``; None when absent or invalid.
        height (int, optional): ``size/height``; None when absent or invalid.
        objects (list[VOCObject]): The objects in file order.
    """
    width: Optional[int]
    height: Optional[int]
    objects: List[VOCObject] = field(default_factory=list)


@dataclass
class ImageRecord:
    """A usable image and its converted annotations.

    Attributes:
        stem (str): File stem shared by the image and its XML.
        file_name (str): Image path relative to the dataset root.
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        boxes (list): ``(category_id, [x, y, w, h])`` per kept object.
    """
    stem: str
    file_name: str
    width: int
    height: int
    boxes: List[Tuple[int, List[float]]] = field(default_factory=list)


@dataclass
class ConversionReport:
    """What :func:`convert_m3fd` did, for the summary and for tests.

    Attributes:
        split (str): Split method used.
        seed (int): Split seed.
        val_ratio (float): Requested val fraction.
        counts (Counter): Occurrences per key of
            :data:`SKIPPED_IMAGE_REASONS`, :data:`SKIPPED_OBJECT_REASONS`
            and :data:`KEPT_NOTES`.
        images (dict): Number of images per split (``all/train/val``).
        class_counts (dict): ``{split: {class: annotations}}``.
        scene_sizes (list[int]): Images per scene (scene split only).
        outputs (list[str]): Paths written.
    """
    split: str
    seed: int
    val_ratio: float
    counts: Counter = field(default_factory=Counter)
    images: Dict[str, int] = field(default_factory=dict)
    class_counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    scene_sizes: List[int] = field(default_factory=list)
    outputs: List[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# VOC parsing and class / box conversion
# --------------------------------------------------------------------------
def _positive_int(text: Optional[str]) -> Optional[int]:
    try:
        value = int(float(text))  # some tools write '1024.0'
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def parse_voc_xml(content: bytes) -> VOCAnnotation:
    """Parse the content of a Pascal VOC annotation file.

    Args:
        content (bytes): The file's bytes.

    Returns:
        VOCAnnotation: Size and objects.

    Raises:
        ValueError: If the content is not well-formed XML or its root is not
            ``<annotation>``.
    """
    try:
        root = ET.fromstring(content)
    except ET.ParseError as e:
        raise ValueError(f'not well-formed XML ({e})') from e
    if root.tag != 'annotation':
        raise ValueError(f'root element is <{root.tag}>, expected '
                         '<annotation>')
    ann = VOCAnnotation(
        width=_positive_int(root.findtext('size/width')),
        height=_positive_int(root.findtext('size/height')))
    for obj in root.findall('object'):
        bbox: Optional[Box] = None
        try:
            values = tuple(
                float(obj.findtext(f'bndbox/{k}'))
                for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            if all(math.isfinite(v) for v in values):
                bbox = values
        except (TypeError, ValueError):  # missing tag or not a number
            pass
        ann.objects.append(VOCObject(obj.findtext('name') or '', bbox))
    return ann


def _name_key(name: str) -> str:
    return ' '.join(name.split()).casefold()


def resolve_class_name(
        name: str,
        classes: Sequence[str] = M3FD_CLASSES) -> Tuple[Optional[str], bool]:
    """Map a VOC object name to one of ``classes``.

    Args:
        name (str): Name as written in the XML.
        classes (Sequence[str]): Canonical class names.

    Returns:
        tuple: ``(class_name, aliased)``: the canonical name (None if the
        name is unknown) and whether it only matched after ignoring case
        and surrounding/repeated white space.
    """
    if name in classes:
        return name, False
    key = _name_key(name)
    for cls in classes:
        if _name_key(cls) == key:
            return cls, True
    return None, False


def voc_box_to_coco(
        bbox: Box,
        width: int,
        height: int,
        min_size: float = 1.0) -> Tuple[Optional[List[float]], bool]:
    """Convert VOC corners to a clipped COCO ``[x, y, w, h]`` box.

    ``w = xmax - xmin`` and ``h = ymax - ymin`` (corners are pixel edges, no
    ``+1``); the corners are clipped to the image first.

    Args:
        bbox (tuple): ``(xmin, ymin, xmax, ymax)``.
        width (int): Image width.
        height (int): Image height.
        min_size (float): Smallest kept width and height. Boxes with zero
            or negative size are always dropped.

    Returns:
        tuple: ``(box, clipped)``: the box (None when degenerate) and
        whether clipping changed the corners.
    """
    xmin, ymin, xmax, ymax = bbox
    x1, x2 = (min(max(v, 0.0), float(width)) for v in (xmin, xmax))
    y1, y2 = (min(max(v, 0.0), float(height)) for v in (ymin, ymax))
    clipped = (x1, y1, x2, y2) != (xmin, ymin, xmax, ymax)
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0 or w < min_size or h < min_size:
        return None, clipped
    return [x1, y1, w, h], clipped


def box_polygon(box: Sequence[float]) -> List[List[float]]:
    """COCO polygon (one ring, clockwise from top-left) of an xywh box."""
    x, y, w, h = box
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


# --------------------------------------------------------------------------
# Scenes and splits
# --------------------------------------------------------------------------
_STEM_RE = re.compile(r'^(.*?)(\d+)$')


def split_stem(stem: str) -> Tuple[str, Optional[int]]:
    """Split a stem into its prefix and trailing number.

    Example: ``'seq2_00017'`` -> ``('seq2_', 17)``; ``'abc'`` ->
    ``('abc', None)``.
    """
    m = _STEM_RE.match(stem)
    if m is None:
        return stem, None
    return m.group(1), int(m.group(2))


def natural_key(stem: str) -> Tuple[str, int, str]:
    """Sort key putting ``'img2'`` before ``'img10'``."""
    prefix, num = split_stem(stem)
    return prefix, -1 if num is None else num, stem


def group_scenes(
        stems: Sequence[str],
        similarities: Optional[Sequence[float]] = None,
        threshold: float = DEFAULT_SCENE_THRESHOLD) -> List[List[str]]:
    """Group stems, in the given order, into scenes of consecutive frames.

    A new scene starts at ``stems[i]`` when its prefix differs from
    ``stems[i - 1]``'s, when either has no trailing number or the numbers
    are not consecutive, or when ``similarities[i - 1]`` (between frames
    ``i - 1`` and ``i``) is below ``threshold``.

    Args:
        stems (Sequence[str]): Stems in natural order.
        similarities (Sequence[float], optional): ``len(stems) - 1``
            similarities of consecutive frames; None uses the numbering
            only.
        threshold (float): Smallest similarity within a scene.

    Returns:
        list[list[str]]: The scenes, in order.
    """
    if similarities is not None and len(similarities) != max(
            0,
            len(stems) - 1):
        raise ValueError(f'expected {max(0, len(stems) - 1)} similarities, '
                         f'got {len(similarities)}')
    scenes: List[List[str]] = []
    for i, stem in enumerate(stems):
        new = i == 0
        if not new:
            (p0, n0), (p1, n1) = split_stem(stems[i - 1]), split_stem(stem)
            new = p0 != p1 or n0 is None or n1 is None or n1 != n0 + 1
            if similarities is not None and similarities[i - 1] < threshold:
                new = True
        if new:
            scenes.append([])
        scenes[-1].append(stem)
    return scenes


def _check_ratio(val_ratio: float) -> None:
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f'val_ratio must be in (0, 1), got {val_ratio}')


def _num_val(n: int, val_ratio: float) -> int:
    # At least one image on each side whenever there are two images.
    return min(max(int(round(n * val_ratio)), 1), n - 1) if n >= 2 else 0


def split_random(stems: Sequence[str], val_ratio: float,
                 seed: int) -> Tuple[List[str], List[str]]:
    """Split single images at random.

    The stems are sorted naturally before the seeded shuffle, so the result
    does not depend on the input order.

    Args:
        stems (Sequence[str]): All stems.
        val_ratio (float): Fraction of images for val, in (0, 1).
        seed (int): Seed of :class:`random.Random`.

    Returns:
        tuple: ``(train, val)`` stems, each in natural order.
    """
    _check_ratio(val_ratio)
    order = sorted(stems, key=natural_key)
    random.Random(seed).shuffle(order)
    val = set(order[:_num_val(len(order), val_ratio)])
    return ([s for s in sorted(stems, key=natural_key)
             if s not in val], sorted(val, key=natural_key))


def split_scenes(scenes: Sequence[Sequence[str]], val_ratio: float,
                 seed: int) -> Tuple[List[str], List[str]]:
    """Split whole scenes so that no scene is in both train and val.

    Scenes are visited in a seeded random order; a scene goes to val when
    adding it brings the val image count closer to ``val_ratio`` of all
    images, and never when it would leave train empty.

    Args:
        scenes (Sequence[Sequence[str]]): Stems grouped by scene.
        val_ratio (float): Target fraction of images for val, in (0, 1).
        seed (int): Seed of :class:`random.Random`.

    Returns:
        tuple: ``(train, val)`` stems, each in natural order.

    Raises:
        ValueError: With fewer than two scenes (nothing to split).
    """
    _check_ratio(val_ratio)
    if len(scenes) < 2:
        raise ValueError(
            f'a scene split needs at least 2 scenes, found {len(scenes)}; '
            'lower the scene threshold or use the random split')
    total = sum(len(s) for s in scenes)
    target = _num_val(total, val_ratio)
    order = list(range(len(scenes)))
    random.Random(seed).shuffle(order)
    in_val: Set[int] = set()
    n_val = 0
    for i in order:
        size = len(scenes[i])
        if n_val + size / 2 < target and n_val + size < total:
            in_val.add(i)
            n_val += size
    if not in_val:  # every scene overshoots: take the smallest one
        in_val.add(min(order, key=lambda i: len(scenes[i])))
    train = [s for i, sc in enumerate(scenes) if i not in in_val for s in sc]
    val = [s for i in in_val for s in scenes[i]]
    return sorted(train, key=natural_key), sorted(val, key=natural_key)


# --------------------------------------------------------------------------
# COCO assembly
# --------------------------------------------------------------------------
def _num(v: float) -> Union[int, float]:
    # Integral coordinates (the usual case) stay ints in the JSON.
    return int(v) if float(v).is_integer() else round(float(v), 3)


def build_coco(records: Sequence[ImageRecord],
               keep: Optional[Set[str]] = None,
               classes: Sequence[str] = M3FD_CLASSES,
               info: Optional[dict] = None) -> dict:
    """Assemble a COCO detection dict.

    Image ids are ``1 + index`` in ``records`` and annotation ids count
    over all records, so subsets built from the same records with different
    ``keep`` share ids.

    Args:
        records (Sequence[ImageRecord]): All usable images.
        keep (set[str], optional): Stems to include; None includes all.
        classes (Sequence[str]): Category names, id ``i + 1`` for
            ``classes[i]``.
        info (dict, optional): The ``info`` entry.

    Returns:
        dict: With ``info``, ``licenses``, ``images``, ``annotations`` and
        ``categories``.
    """
    images, annotations = [], []
    ann_id = 0
    for img_id, rec in enumerate(records, start=1):
        take = keep is None or rec.stem in keep
        if take:
            images.append(
                dict(
                    id=img_id,
                    file_name=rec.file_name,
                    width=rec.width,
                    height=rec.height))
        for cat_id, box in rec.boxes:
            ann_id += 1
            if not take:
                continue
            box = [_num(v) for v in box]
            annotations.append(
                dict(
                    id=ann_id,
                    image_id=img_id,
                    category_id=cat_id,
                    bbox=box,
                    area=_num(box[2] * box[3]),
                    iscrowd=0,
                    segmentation=box_polygon(box)))
    categories = [
        dict(id=i, name=c, supercategory='none')
        for i, c in enumerate(classes, start=1)
    ]
    return dict(
        info=dict(info or {}),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=categories)


# --------------------------------------------------------------------------
# Whole-dataset conversion
# --------------------------------------------------------------------------
def _list_stems(folder: str, suffixes: Sequence[str]) -> Dict[str, str]:
    """Map stem -> file name for files in ``folder`` with one of ``suffixes``
    (case-insensitive); earlier suffixes win."""
    found: Dict[str, str] = {}
    rank = {s: i for i, s in enumerate(suffixes)}
    for name in os.listdir(folder):
        stem, ext = osp.splitext(name)
        ext = ext.lower()
        if ext in rank and (stem not in found or rank[ext] < rank[osp.splitext(
                found[stem])[1].lower()]):
            found[stem] = name
    return found


def _convert_objects(ann: VOCAnnotation, rec: ImageRecord, xml_rel: str,
                     min_box_size: float, counts: Counter,
                     seen_aliases: Set[str], log: LogFn) -> None:
    """Append ``ann``'s usable objects to ``rec.boxes``, counting the rest."""
    unknown: Counter = Counter()
    for k, obj in enumerate(ann.objects, start=1):
        cls, aliased = resolve_class_name(obj.name)
        if cls is None:
            unknown[obj.name] += 1
            continue
        if aliased:
            counts['aliased_class'] += 1
            if obj.name not in seen_aliases:  # once per variant, not per box
                seen_aliases.add(obj.name)
                log(f'note: class name {obj.name!r} read as {cls!r} '
                    f'(first in {xml_rel})')
        if obj.bbox is None:
            counts['malformed_box'] += 1
            log(f'skipped object #{k} ({cls}) in {xml_rel}: missing or '
                'non-numeric bndbox')
            continue
        box, clipped = voc_box_to_coco(obj.bbox, rec.width, rec.height,
                                       min_box_size)
        counts['clipped_box'] += int(clipped)
        if box is None:
            counts['degenerate_box'] += 1
            log(f'skipped object #{k} ({cls}) in {xml_rel}: degenerate box '
                f'{list(obj.bbox)} in a {rec.width}x{rec.height} image')
            continue
        rec.boxes.append((M3FD_CLASSES.index(cls) + 1, box))
    for name, n in sorted(unknown.items()):
        counts['unknown_class'] += n
        log(f'skipped {n} object(s) in {xml_rel}: unknown class {name!r} '
            f'(known: {", ".join(M3FD_CLASSES)})')


def _load_records(
        root: str, min_box_size: float, want_descriptors: bool,
        counts: Counter,
        log: LogFn) -> Tuple[List[ImageRecord], Dict[str, np.ndarray]]:
    """Read every XML and its image; return the usable images in natural order
    and, if asked, their frame descriptors."""
    img_dir, ann_dir = osp.join(root, IMAGE_DIR), osp.join(root, ANN_DIR)
    for d in (img_dir, ann_dir):
        if not osp.isdir(d):
            raise FileNotFoundError(
                f'{d} not found: M3FD_ROOT must contain {IMAGE_DIR}/ and '
                f'{ANN_DIR}/ (the M3FD_Detection download)')
    images = _list_stems(img_dir, IMAGE_SUFFIXES)
    xmls = _list_stems(ann_dir, ('.xml', ))
    orphans = sorted(set(images) - set(xmls), key=natural_key)
    if orphans:
        counts['missing_xml'] += len(orphans)
        shown = ', '.join(images[s] for s in orphans[:5])
        log(f'skipped {len(orphans)} image(s) in {IMAGE_DIR}/ without an '
            f'XML in {ANN_DIR}/: {shown}{" ..." if len(orphans) > 5 else ""}')
    records: List[ImageRecord] = []
    descriptors: Dict[str, np.ndarray] = {}
    seen_aliases: Set[str] = set()
    for stem in sorted(xmls, key=natural_key):
        xml_rel = f'{ANN_DIR}/{xmls[stem]}'
        with open(osp.join(root, xml_rel), 'rb') as f:
            content = f.read()
        try:
            ann = parse_voc_xml(content)
        except ValueError as e:
            counts['malformed_xml'] += 1
            log(f'skipped {xml_rel}: malformed XML: {e}')
            continue
        if stem not in images:
            counts['missing_image'] += 1
            log(f'skipped {xml_rel}: no image {IMAGE_DIR}/{stem}.* '
                f'({"/".join(IMAGE_SUFFIXES)})')
            continue
        img_rel = f'{IMAGE_DIR}/{images[stem]}'
        img = cv2.imread(osp.join(root, img_rel), cv2.IMREAD_GRAYSCALE)
        if img is None:
            counts['unreadable_image'] += 1
            log(f'skipped {xml_rel}: {img_rel} cannot be decoded')
            continue
        h, w = img.shape[:2]
        if (ann.width, ann.height) != (w, h) and None not in (ann.width,
                                                              ann.height):
            counts['size_mismatch'] += 1
            log(f'note: {xml_rel} says {ann.width}x{ann.height} but '
                f'{img_rel} is {w}x{h}; using the image size')
        if not ann.objects:
            counts['no_objects'] += 1
        rec = ImageRecord(stem, img_rel, w, h)
        _convert_objects(ann, rec, xml_rel, min_box_size, counts, seen_aliases,
                         log)
        records.append(rec)
        if want_descriptors:
            descriptors[stem] = thumbnail(img)
    return records, descriptors


def _class_counts(coco: dict) -> Dict[str, int]:
    per_id = Counter(a['category_id'] for a in coco['annotations'])
    return {c['name']: per_id.get(c['id'], 0) for c in coco['categories']}


def convert_m3fd(root: str,
                 out_dir: str,
                 val_ratio: float = 0.2,
                 seed: int = 0,
                 split: str = 'scene',
                 min_box_size: float = 1.0,
                 scene_threshold: float = DEFAULT_SCENE_THRESHOLD,
                 log: LogFn = print) -> ConversionReport:
    """Convert an M3FD release to COCO JSON and write the split files.

    See the module docstring for the layout and rules.

    Args:
        root (str): Folder with ``Ir/`` and ``Annotation/``.
        out_dir (str): Where ``annotations/`` and ``splits/`` are written.
        val_ratio (float): Fraction of images for val, in (0, 1).
        seed (int): Split seed.
        split (str): ``'scene'`` (default) or ``'random'``.
        min_box_size (float): Smallest kept box width and height, in pixels.
        scene_threshold (float): Smallest similarity of two consecutive
            frames of one scene (scene split only).
        log (callable): Receives one line per skipped item or note.

    Returns:
        ConversionReport: Counts and the paths written.

    Raises:
        FileNotFoundError: If ``Ir/`` or ``Annotation/`` is missing.
        ValueError: On bad arguments, when no image is usable, or when the
            scene split finds fewer than two scenes.
    """
    if split not in SPLIT_METHODS:
        raise ValueError(f'split must be one of {SPLIT_METHODS}, got '
                         f'{split!r}')
    _check_ratio(val_ratio)
    report = ConversionReport(split=split, seed=seed, val_ratio=val_ratio)
    records, descriptors = _load_records(root, min_box_size, split == 'scene',
                                         report.counts, log)
    if not records:
        raise ValueError(f'no usable image found under {root}')
    stems = [r.stem for r in records]
    if split == 'scene':
        # The later frame is searched in the earlier one.
        sims = [
            similarity(descriptors[b], descriptors[a])
            for a, b in zip(stems, stems[1:])
        ]
        scenes = group_scenes(stems, sims, scene_threshold)
        report.scene_sizes = [len(s) for s in scenes]
        train, val = split_scenes(scenes, val_ratio, seed)
    else:
        train, val = split_random(stems, val_ratio, seed)

    info = dict(
        description='M3FD infrared (Ir) detection, converted by '
        'infmae_mm m3fd_to_coco',
        version=__version__,
        classes=list(M3FD_CLASSES),
        box_convention='x=xmin, y=ymin, w=xmax-xmin, h=ymax-ymin, '
        'clipped to the image',
        split_method=split,
        seed=seed,
        val_ratio=val_ratio)
    if split == 'scene':
        info['scene_threshold'] = scene_threshold
    for name, keep in (('all', None), ('train', set(train)), ('val',
                                                              set(val))):
        coco = build_coco(records, keep, info=dict(info, split=name))
        path = osp.join(out_dir, 'annotations', f'm3fd_inf_{name}.json')
        atomic_write_text(path, json.dumps(coco))
        report.outputs.append(path)
        report.images[name] = len(coco['images'])
        report.class_counts[name] = _class_counts(coco)
    for name, lst in (('train', train), ('val', val)):
        path = osp.join(out_dir, 'splits', f'{name}.txt')
        atomic_write_text(path, ''.join(s + '\n' for s in lst))
        report.outputs.append(path)
    return report


def format_summary(report: ConversionReport) -> str:
    """Render a report as a plain-text table."""
    splits = ('all', 'train', 'val')
    rows = [('images', *(report.images.get(s, 0) for s in splits))]
    for cls in M3FD_CLASSES:
        rows.append((cls, *(report.class_counts.get(s, {}).get(cls, 0)
                            for s in splits)))
    rows.append(('annotations', *(sum(report.class_counts.get(s, {}).values())
                                  for s in splits)))
    width = max(len(r[0]) for r in rows) + 2
    lines = [
        f'M3FD -> COCO: split={report.split} seed={report.seed} '
        f'val_ratio={report.val_ratio}'
    ]
    if report.scene_sizes:
        sizes = sorted(report.scene_sizes)
        lines.append(f'scenes: {len(sizes)} (images per scene: min '
                     f'{sizes[0]}, median {sizes[len(sizes) // 2]}, max '
                     f'{sizes[-1]}; one-frame scenes: '
                     f'{sizes.count(1)})')
    lines.append(f'{"":<{width}}' + ''.join(f'{s:>8}' for s in splits))
    lines += [
        f'{r[0]:<{width}}' + ''.join(f'{v:>8}' for v in r[1:]) for r in rows
    ]
    for title, table in (('skipped images', SKIPPED_IMAGE_REASONS),
                         ('skipped objects', SKIPPED_OBJECT_REASONS),
                         ('kept, noted', KEPT_NOTES)):
        lines.append(f'{title}:')
        lines += [
            f'  {text:<42}{report.counts.get(key, 0):>6}'
            for key, text in table.items()
        ]
    return '\n'.join(lines)
