"""Curation of an unlabeled infrared pre-training set, the Inf30 way.

Section 3.1 of the InfMAE paper builds Inf30 from images gathered from
several sources and cleans them in two ways: images whose width *and* height
are both under 20 pixels are removed, and images that closely resemble an
"anchor" image (typically frames of the same video) are removed so that the
set stays diverse (Table 8 shows that similar images add nothing). Section
3.2 measures the detail richness of the set with the information entropy of
equation 1. This module does the same for any folders of images:

1. **find**: every file with an image suffix (:data:`IMAGE_SUFFIXES`, any
   case) under the raw folders, searched recursively. Each gets an id
   ``<source label>/<path relative to its raw folder>``; the source label is
   the raw folder's name (``raw``, ``raw_2`` if two folders share a name).
   Everything below is done in the sorted order of these ids, so the result
   never depends on the order in which the file system lists files.
2. **analyse**: each file is decoded once (:func:`analyse_image`) into its
   size, bit depth, a 256-level gray image (:func:`gray_levels`), its entropy
   (:func:`information_entropy`) and a 64-bit perceptual hash
   (:func:`perceptual_hash`). Results are journalled in an append-only JSON
   lines file (:class:`AnalysisJournal`) so that an interrupted run resumes
   where it stopped.
3. **select** (:func:`select_images`): drop unreadable files, images under
   the size threshold, and near-duplicates.
4. **write**: the manifest (one path per line, relative to the output folder,
   as read by mmpretrain's ``CustomDataset(ann_file=..., with_label=False)``),
   a CSV report of every input and why it was dropped, statistics as a text
   table, JSON and a PNG plot; optionally the kept files are copied or linked
   into the output folder. Every output is written atomically.

Near-duplicates
---------------
The similarity measure is a DCT perceptual hash: the 256-level gray image is
shrunk to a 32x32 thumbnail (area averaging), its 2-D DCT taken, and each of
the 63 lowest-frequency AC coefficients (the 8x8 top-left block without the
DC term) gives one bit: 1 when it is above their median. Two images are
near-duplicates when their hashes differ in at most ``dedup_threshold`` bits
(default :data:`DEFAULT_DEDUP_THRESHOLD` = 6, i.e. >= 90% of the bits agree).
The hash ignores brightness offset and gain (DC dropped, median threshold),
JPEG re-encoding, resizing and bit depth, but changes with the scene layout.
The median splits the 63 bits into 31 ones and 32 zeros, so distances are
even (a threshold of 7 acts as 6).

The threshold is set from measurements on generated infrared images
(:mod:`infmae_mm.datasets.synthetic`): among 2,000 distinct 256x256 images
no pair is within 6 bits (11 pairs of similar street layouts are at 8),
while re-encoded (JPEG q90), 0.9x/1.1x resized, +-25 brightness shifted and
1.2x gained copies differ in at most 6 bits (16-bit and colour copies in the
tests: at most 2). Frames of a video shifted by a few percent (5% crops
reach 8-10 bits) need a larger threshold, e.g. ``--dedup-threshold 10``; a
negative threshold switches deduplication off. Larger thresholds cost more
search: on a 2-core machine the index deduplicates 300,000 hashes in about
30 s at 6 and 4 minutes at 10, next to about 5 minutes of decoding at
~1,000 images/s.

The paper removes images that closely resemble an anchor image. Here the
anchors are chosen greedily: images are visited largest first (by pixel
count; ties in sorted id order) and an image becomes an anchor (is kept)
unless a kept anchor lies within the threshold, in which case it is dropped
as a near-duplicate *of that anchor* (the nearest one; ties go to the earlier
anchor). Comparing only with kept anchors, as the paper does, avoids
chaining (A~B and B~C do not remove C when C is far from A). Of a group of
copies the largest is kept, so the best resolution survives; copies of the
same size keep the first in sorted order. The search uses multi-index hashing
(:class:`HammingIndex`): the hash is split into 4 bands of 16 bits; two
hashes within distance ``t`` agree within ``t // 4`` bits on at least one
band (pigeonhole), so only anchors in the buckets of the query's bands and
their ``t // 4``-bit neighbours are compared, not all of them.

Entropy
-------
Equation 1, ``H = -sum_i P(x_i) log2 P(x_i)`` over the 256 gray levels of the
image (bits; 0 for a flat image, at most 8). Colour images are converted to
gray first (ITU-R BT.601 weights, :func:`cv2.cvtColor`). Images with more
than 8 bits (16-bit radiometric counts, float TIFFs) are first mapped to 256
levels: the 0.5 and 99.5 percentiles of the image (:func:`numpy.percentile`,
linear interpolation) map to 0 and 255, values outside are clipped and the
result is rounded. The same gray image feeds the hash. The set's entropy is
the mean of the per-image entropies, the statistic the paper reports (6.44
bits for Inf30).
"""
from __future__ import annotations

import bisect
import csv
import io
import itertools
import json
import math
import multiprocessing
import os
import posixpath
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.io import atomic_open, atomic_write_bytes, atomic_write_text
from .image_decoding import ImageDecodeError, decode_image, stretch_to_uint8

__all__ = [
    'IMAGE_SUFFIXES',
    'DEFAULT_MIN_SIDE',
    'DEFAULT_DEDUP_THRESHOLD',
    'TRANSFER_MODES',
    'SourceImage',
    'ImageAnalysis',
    'CurationDecision',
    'CurationResult',
    'HammingIndex',
    'AnalysisJournal',
    'gray_levels',
    'information_entropy',
    'perceptual_hash',
    'hamming_distance',
    'analyse_image',
    'find_images',
    'read_manifest_images',
    'select_images',
    'curate',
    'compute_statistics',
    'format_statistics',
    'plot_statistics',
    'write_statistics',
    'dataset_statistics',
]

#: File suffixes searched for (compared in lower case).
IMAGE_SUFFIXES: Tuple[str, ...] = ('.png', '.jpg', '.jpeg', '.bmp', '.tif',
                                   '.tiff', '.pgm')
#: The paper drops images whose width and height are both under 20 pixels.
DEFAULT_MIN_SIDE = 20
#: Largest Hamming distance (of 64 bits) between near-duplicate hashes.
DEFAULT_DEDUP_THRESHOLD = 6
#: How kept files are placed into the output folder (or not at all: None).
TRANSFER_MODES: Tuple[str, ...] = ('copy', 'hardlink', 'symlink')

MANIFEST_NAME = 'manifest.txt'
REPORT_NAME = 'curation_report.csv'
JOURNAL_NAME = 'curation_state.jsonl'
STATS_TABLE_NAME = 'stats.txt'
STATS_JSON_NAME = 'stats.json'
STATS_PLOT_NAME = 'stats.png'
#: Sub-folder of the output folder that receives copied or linked images.
IMAGES_DIR = 'images'

# Drop reasons, as written in the report.
UNREADABLE = 'unreadable'
TOO_SMALL = 'too_small'
NEAR_DUPLICATE = 'near_duplicate'
UNLISTABLE = 'unlistable_path'
DROP_REASONS: Tuple[str, ...] = (UNREADABLE, TOO_SMALL, NEAR_DUPLICATE,
                                 UNLISTABLE)

#: What makes journalled analyses comparable: change it whenever
#: :func:`analyse_image` computes something else.
_JOURNAL_HEADER = {
    'journal': 'infmae_mm.datasets.curation',
    'version': 1,
    'gray': 'bt601; >8 bit: p0.5-p99.5 to 0-255',
    'hash': 'dct-32x32-8x8-ac-median',
}
_HASH_BITS = 64
_HASH_BANDS = 4
_THUMB_SIDE = 32
_DCT_SIDE = 8
_PERCENTILES = (0.5, 99.5)
# Longer-side bins of the resolution histogram: [0, 32), [32, 64), ...
_LONG_SIDE_EDGES = (0, 32, 64, 128, 256, 512, 1024, 2048, 4096)


# --------------------------------------------------------------------------
# Per-image measures
# --------------------------------------------------------------------------
def gray_levels(img: np.ndarray) -> np.ndarray:
    """Map a decoded image to a 256-level gray image.

    Args:
        img (np.ndarray): Image as decoded by OpenCV with
            ``IMREAD_UNCHANGED``: ``(H, W)``, ``(H, W, 1)``, gray+alpha
            ``(H, W, 2)``, BGR ``(H, W, 3)`` or BGRA ``(H, W, 4)``, of any
            dtype.

    Returns:
        np.ndarray: ``(H, W)`` uint8. 8-bit images keep their values (colour
        ones are converted with BT.601 weights); deeper images are stretched
        so that their 0.5 and 99.5 percentiles become 0 and 255 (clipped,
        rounded).
    """
    if img.ndim == 3:
        if img.shape[2] <= 2:  # gray, or gray + alpha
            img = img[..., 0]
        else:  # BGR(A): the alpha channel carries no brightness
            bgr = img[..., :3]
            if bgr.dtype != np.uint8:
                bgr = bgr.astype(np.float32)
            img = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2GRAY)
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    values = np.nan_to_num(img.astype(np.float64))
    return stretch_to_uint8(values, *np.percentile(values, _PERCENTILES))


def information_entropy(levels: np.ndarray) -> float:
    """Information entropy of a 256-level gray image (paper, equation 1).

    Args:
        levels (np.ndarray): uint8 gray image, see :func:`gray_levels`.

    Returns:
        float: ``-sum P(x) log2 P(x)`` over the gray levels present, in bits
        (0 for a flat image, at most 8).
    """
    hist = np.bincount(levels.ravel(), minlength=256)
    prob = hist[hist > 0] / levels.size
    # max() turns the -0.0 of a flat image into 0.0.
    return max(0.0, float(-np.sum(prob * np.log2(prob))))


def perceptual_hash(levels: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a gray image.

    Bit ``62 - k`` is set when the ``k``-th AC coefficient (row-major order
    in the 8x8 lowest-frequency block of the DCT of a 32x32 area-averaged
    thumbnail, DC left out) is above the median of the 63; bit 63 is always
    0. Offset and gain of the brightness do not change the hash.

    Args:
        levels (np.ndarray): uint8 gray image, see :func:`gray_levels`.

    Returns:
        int: The hash, ``0 <= hash < 2**63``; 0 for a flat image.
    """
    thumb = cv2.resize(levels.astype(np.float32), (_THUMB_SIDE, _THUMB_SIDE),
                       interpolation=cv2.INTER_AREA)
    if float(thumb.max() - thumb.min()) < 1e-3:
        return 0
    ac = cv2.dct(thumb)[:_DCT_SIDE, :_DCT_SIDE].ravel()[1:]
    bits = np.zeros(_HASH_BITS, bool)
    bits[1:] = ac > np.median(ac)
    return int.from_bytes(np.packbits(bits).tobytes(), 'big')


def hamming_distance(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


class HammingIndex:
    """Nearest stored hash within a Hamming radius, by multi-index hashing.

    The 64-bit hashes are split into ``num_bands`` bands. If two hashes are
    at most ``max_distance`` apart, at least one band differs in at most
    ``max_distance // num_bands`` bits (pigeonhole), so a query only looks at
    the buckets of its bands flipped in that many bits, never at every stored
    hash. The answer is exact.

    Args:
        max_distance (int): Largest distance reported; negative: never.
        num_bands (int): Number of bands; must divide 64. Defaults to 4
            (16-bit bands: few entries per bucket for sets of 10^4-10^6).
    """

    def __init__(self, max_distance: int, num_bands: int = _HASH_BANDS):
        if _HASH_BITS % num_bands:
            raise ValueError(f'num_bands must divide {_HASH_BITS}, got '
                             f'{num_bands}')
        self.max_distance = int(max_distance)
        self.num_bands = num_bands
        self._band_bits = _HASH_BITS // num_bands
        self._band_mask = (1 << self._band_bits) - 1
        radius = max(0, self.max_distance) // num_bands
        self._flips = [
            sum(1 << bit for bit in bits) for r in range(radius + 1)
            for bits in itertools.combinations(range(self._band_bits), r)
        ]
        self._tables: List[Dict[int, List[int]]] = [
            {} for _ in range(num_bands)
        ]
        self._codes: List[int] = []

    def __len__(self) -> int:
        return len(self._codes)

    def _bands(self, code: int) -> Iterator[Tuple[int, int]]:
        for band in range(self.num_bands):
            yield band, (code >> (band * self._band_bits)) & self._band_mask

    def add(self, code: int) -> int:
        """Store a hash.

        Args:
            code (int): The hash.

        Returns:
            int: Its index (0, 1, 2, ... in the order of addition).
        """
        index = len(self._codes)
        self._codes.append(code)
        for band, key in self._bands(code):
            self._tables[band].setdefault(key, []).append(index)
        return index

    def nearest(self, code: int) -> Optional[Tuple[int, int]]:
        """The closest stored hash within ``max_distance``.

        Args:
            code (int): The query hash.

        Returns:
            tuple[int, int] | None: ``(index, distance)`` of the closest
            stored hash (the earliest added among equally close ones), or
            None when none is within ``max_distance``.
        """
        if self.max_distance < 0:
            return None
        best: Optional[Tuple[int, int]] = None  # (distance, index)
        seen = set()
        for band, key in self._bands(code):
            table = self._tables[band]
            for flip in self._flips:
                for index in table.get(key ^ flip, ()):
                    if index in seen:
                        continue
                    seen.add(index)
                    dist = (self._codes[index] ^ code).bit_count()
                    if dist <= self.max_distance and (
                            best is None or (dist, index) < best):
                        best = (dist, index)
        return None if best is None else (best[1], best[0])


@dataclass
class ImageAnalysis:
    """What curation needs to know about one file.

    Attributes:
        path (str): Absolute path (the journal key).
        size (int): File size in bytes when analysed.
        mtime_ns (int): Modification time when analysed.
        readable (bool): Whether it decoded to a non-empty image.
        width (int): Width in pixels (0 if unreadable).
        height (int): Height in pixels (0 if unreadable).
        channels (int): 1 for gray, 3 or 4 for colour.
        dtype (str): Decoded dtype, e.g. ``'uint8'`` or ``'uint16'``.
        phash (int | None): :func:`perceptual_hash`.
        entropy (float | None): :func:`information_entropy`, bits.
        error (str): Why it is unreadable.
    """
    path: str
    size: int
    mtime_ns: int
    readable: bool
    width: int = 0
    height: int = 0
    channels: int = 0
    dtype: str = ''
    phash: Optional[int] = None
    entropy: Optional[float] = None
    error: str = ''

    def to_json(self) -> str:
        """One journal line (without the newline)."""
        record = asdict(self)
        if self.phash is not None:
            record['phash'] = f'{self.phash:016x}'
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> 'ImageAnalysis':
        """Parse a journal line; raises ValueError/TypeError if malformed."""
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError('not a JSON object')
        if record.get('phash') is not None:
            record['phash'] = int(record['phash'], 16)
        return cls(**record)


def analyse_image(path: str) -> ImageAnalysis:
    """Decode one file and measure it.

    Args:
        path (str): Path of the file (made absolute in the result).

    Returns:
        ImageAnalysis: Size, bit depth, hash and entropy, or ``readable=False``
        with the ``error`` for an empty, truncated, undecodable or missing
        file.
    """
    path = os.path.abspath(path)
    try:
        stat = os.stat(path)
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        return ImageAnalysis(path, 0, 0, False, error=f'cannot read: {e}')
    result = ImageAnalysis(path, stat.st_size, stat.st_mtime_ns, False)
    try:
        img = decode_image(data)
    except ImageDecodeError as e:
        result.error = e.reason
        return result
    levels = gray_levels(img)
    result.readable = True
    result.height, result.width = img.shape[:2]
    result.channels = 1 if img.ndim == 2 else int(img.shape[2])
    result.dtype = str(img.dtype)
    result.phash = perceptual_hash(levels)
    result.entropy = information_entropy(levels)
    return result


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------
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


def _source_labels(raw_dirs: Sequence[str]) -> List[str]:
    """Folder names, made unique with ``_2``, ``_3``, ... in given order."""
    labels: List[str] = []
    for raw_dir in raw_dirs:
        base = os.path.basename(os.path.normpath(os.path.abspath(raw_dir)))
        label, n = base or 'root', 1
        while label in labels:
            n += 1
            label = f'{base or "root"}_{n}'
        labels.append(label)
    return labels


def find_images(raw_dirs: Sequence[str],
                exclude_dirs: Sequence[str] = ()) -> List[SourceImage]:
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
    for raw_dir, label in zip(raw_dirs, _source_labels(raw_dirs)):
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
                         data_root: Optional[str] = None
                         ) -> List[SourceImage]:
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
            parts = [p for p in posixpath.normpath(
                entry.replace(os.sep, '/')).split('/') if p not in ('', '..')]
            if len(parts) > 1 and parts[0] == IMAGES_DIR:
                parts = parts[1:]
            image_id = '/'.join(parts)
            images.append(SourceImage(os.path.join(root, entry), image_id,
                                      _source_of(image_id)))
    return images


# --------------------------------------------------------------------------
# Journal of analyses (resume)
# --------------------------------------------------------------------------
class AnalysisJournal:
    """Append-only JSON lines file of :class:`ImageAnalysis` results.

    The first line is a header naming how analyses are computed; each further
    line is one analysis, written and flushed as soon as it is known, so a
    killed run loses at most the line being written. When resuming, a
    half-written last line is cut off (and malformed lines are skipped), and
    a journal with another header is discarded.

    Args:
        path (str): Journal file.
        resume (bool): Keep and reuse what the file holds; otherwise start
            a new journal.
    """

    def __init__(self, path: str, resume: bool) -> None:
        self.path = path
        self.records: Dict[str, ImageAnalysis] = {}
        self.skipped_lines = 0
        self.discarded = False
        header = json.dumps(_JOURNAL_HEADER, sort_keys=True)
        if not (resume and self._load(header)):
            atomic_write_text(path, header + '\n')
        self._file = open(path, 'a', encoding='utf-8')
        self._last_sync = time.monotonic()

    def _load(self, header: str) -> bool:
        """Read the journal; False when there is none to reuse."""
        try:
            with open(self.path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            return False
        complete = data[:data.rfind(b'\n') + 1]
        lines = complete.decode('utf-8', 'replace').split('\n')[:-1]
        if not lines or lines[0] != header:
            self.discarded = bool(data)
            return False
        if len(complete) < len(data):
            # The last line was cut by a kill: drop it so that the next
            # append starts on a line of its own.
            with open(self.path, 'r+b') as f:
                f.truncate(len(complete))
        for line in lines[1:]:
            try:
                record = ImageAnalysis.from_json(line)
            except (ValueError, TypeError, KeyError):
                self.skipped_lines += 1
                continue
            self.records[record.path] = record  # the last word wins
        return True

    def lookup(self, path: str) -> Optional[ImageAnalysis]:
        """The journalled analysis of ``path`` if the file is unchanged."""
        record = self.records.get(path)
        if record is None:
            return None
        try:
            stat = os.stat(path)
        except OSError:
            return None
        if (stat.st_size, stat.st_mtime_ns) != (record.size, record.mtime_ns):
            return None
        return record

    def append(self, analysis: ImageAnalysis) -> None:
        """Journal one analysis (flushed now, fsynced every few seconds)."""
        self.records[analysis.path] = analysis
        self._file.write(analysis.to_json() + '\n')
        self._file.flush()
        if time.monotonic() - self._last_sync > 5.0:
            os.fsync(self._file.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        """Flush to disk and close."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


class _ProgressLine:
    """A one-line progress report with counts, rate and ETA on stderr.

    On a terminal the line is redrawn in place twice a second; otherwise
    (logs, CI) a full line is printed every 10 seconds.
    """

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = sys.stderr
        self.tty = enabled and self.stream.isatty()
        self.interval = 0.5 if self.tty else 10.0
        self.start = self.last = time.monotonic()

    def update(self, done: int, counts: str = '',
               force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < self.interval):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float('inf')
        eta_text = time.strftime('%H:%M:%S', time.gmtime(eta)) \
            if math.isfinite(eta) else '--:--:--'
        pct = 100.0 * done / self.total if self.total else 100.0
        line = (f'[{self.label}] {done}/{self.total} ({pct:.1f}%) '
                f'{rate:.1f} img/s ETA {eta_text} {counts}').rstrip()
        if self.tty:
            self.stream.write('\r' + line + '\x1b[K')
        else:
            self.stream.write(line + '\n')
        self.stream.flush()

    def finish(self, done: int, counts: str = '') -> None:
        self.update(done, counts, force=True)
        if self.tty:
            self.stream.write('\n')
            self.stream.flush()


def _init_worker() -> None:
    # The parent handles Ctrl-C; each worker decodes with one thread so that
    # N workers use N cores.
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)


def _analyse_all(images: Sequence[SourceImage], journal: AnalysisJournal,
                 workers: int, progress: bool
                 ) -> Tuple[Dict[str, ImageAnalysis], int]:
    """Analyse the images not in the journal, journalling each result.

    Returns:
        tuple: Analyses of all images keyed by absolute path, and how many
        of them came from the journal.
    """
    results: Dict[str, ImageAnalysis] = {}
    todo = []
    for image in images:
        key = os.path.abspath(image.path)
        cached = journal.lookup(key)
        if cached is None:
            todo.append(key)
        else:
            results[key] = cached
    reused = len(results)
    bar = _ProgressLine('analyse', len(todo), progress)
    unreadable = 0
    pool = None
    if workers > 1 and len(todo) > 1:
        pool = multiprocessing.Pool(workers, initializer=_init_worker)
        analyses: Iterable[ImageAnalysis] = pool.imap(
            analyse_image, todo, chunksize=16)
    else:
        analyses = map(analyse_image, todo)
    try:
        for done, analysis in enumerate(analyses, start=1):
            journal.append(analysis)
            results[analysis.path] = analysis
            unreadable += not analysis.readable
            bar.update(done, f'(reused {reused}, unreadable {unreadable})')
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    bar.finish(len(todo), f'(reused {reused}, unreadable {unreadable})')
    return results, reused


# --------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------
@dataclass
class CurationDecision:
    """The fate of one input.

    Attributes:
        image (SourceImage): The input.
        analysis (ImageAnalysis): Its measures.
        reason (str): ``''`` when kept, else one of :data:`DROP_REASONS`.
        duplicate_of (str | None): For near-duplicates, the path of the kept
            image (anchor) it resembles.
        distance (int | None): For near-duplicates, the Hamming distance to
            that anchor.
        manifest_entry (str): For kept images, the manifest line.
    """
    image: SourceImage
    analysis: ImageAnalysis
    reason: str = ''
    duplicate_of: Optional[str] = None
    distance: Optional[int] = None
    manifest_entry: str = ''

    @property
    def kept(self) -> bool:
        return not self.reason


def _listable(path: str) -> bool:
    """Whether the path can be one UTF-8 line of a manifest."""
    if '\n' in path or '\r' in path:
        return False
    try:
        path.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def select_images(images: Sequence[SourceImage],
                  analyses: Dict[str, ImageAnalysis],
                  min_side: int = DEFAULT_MIN_SIDE,
                  dedup_threshold: int = DEFAULT_DEDUP_THRESHOLD
                  ) -> List[CurationDecision]:
    """Decide which images to keep (see the module docstring).

    Args:
        images (Sequence[SourceImage]): The inputs.
        analyses (dict[str, ImageAnalysis]): Analyses by absolute path.
        min_side (int): Images with width and height both under this are
            dropped as too small.
        dedup_threshold (int): Largest hash distance of near-duplicates;
            negative to keep near-duplicates.

    Returns:
        list[CurationDecision]: One per input, sorted by ``image_id``.
    """
    decisions = []
    candidates = []
    for image in sorted(images, key=lambda im: im.image_id):
        analysis = analyses[os.path.abspath(image.path)]
        decision = CurationDecision(image, analysis)
        if not _listable(image.path):
            decision.reason = UNLISTABLE
        elif not analysis.readable:
            decision.reason = UNREADABLE
        elif analysis.width < min_side and analysis.height < min_side:
            decision.reason = TOO_SMALL
        else:
            candidates.append(decision)
        decisions.append(decision)
    # Largest first, so that the best copy of a group becomes its anchor;
    # the stable sort keeps the sorted id order among equal sizes.
    candidates.sort(key=lambda d: -d.analysis.width * d.analysis.height)
    index = HammingIndex(dedup_threshold)
    anchors: List[CurationDecision] = []
    for decision in candidates:
        hit = index.nearest(decision.analysis.phash)
        if hit is None:
            index.add(decision.analysis.phash)
            anchors.append(decision)
        else:
            decision.reason = NEAR_DUPLICATE
            decision.duplicate_of = anchors[hit[0]].image.path
            decision.distance = hit[1]
    return decisions


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------
def _same_file_in_place(src: str, dst: str, mode: str) -> bool:
    """Whether ``dst`` already holds ``src`` as ``mode`` would place it."""
    if not os.path.lexists(dst):
        return False
    if mode == 'symlink':
        return os.path.islink(dst) and os.readlink(dst) == src
    try:
        if mode == 'hardlink':
            return os.path.samefile(src, dst)
        s, d = os.stat(src), os.stat(dst)
    except OSError:
        return False
    return (s.st_size, s.st_mtime_ns) == (d.st_size, d.st_mtime_ns)


def _place(src: str, dst: str, mode: str) -> str:
    """Copy or link ``src`` to ``dst`` atomically.

    Returns:
        str: The mode used: a hard link that fails (e.g. across file
        systems) falls back to a symbolic link.
    """
    src = os.path.abspath(src)
    if _same_file_in_place(src, dst, mode):
        return mode
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if mode == 'copy':
        with open(src, 'rb') as fin, atomic_open(dst, 'wb') as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        stat = os.stat(src)
        os.utime(dst, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return mode
    tmp = f'{dst}.{os.getpid()}.link.tmp'
    if os.path.lexists(tmp):
        os.unlink(tmp)
    if mode == 'hardlink':
        try:
            os.link(src, tmp)
        except OSError:
            mode = 'symlink'
    if mode == 'symlink':
        os.symlink(src, tmp)
    os.replace(tmp, dst)
    return mode


def _files_under(folder: str) -> Iterator[str]:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            yield os.path.join(dirpath, name)


def _write_report(path: str, decisions: Sequence[CurationDecision]) -> None:
    columns = ('path', 'image_id', 'source', 'decision', 'reason',
               'duplicate_of', 'distance', 'width', 'height', 'channels',
               'dtype', 'entropy', 'phash', 'manifest_entry', 'detail')
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(columns)
    for d in decisions:
        a = d.analysis
        writer.writerow([
            d.image.path, d.image.image_id, d.image.source,
            'kept' if d.kept else 'dropped', d.reason, d.duplicate_of or '',
            '' if d.distance is None else d.distance,
            a.width if a.readable else '', a.height if a.readable else '',
            a.channels if a.readable else '', a.dtype,
            '' if a.entropy is None else f'{a.entropy:.4f}',
            '' if a.phash is None else f'{a.phash:016x}', d.manifest_entry,
            a.error
        ])
    # surrogateescape: undecodable file names still appear in the report.
    atomic_write_bytes(path, buf.getvalue().encode('utf-8', 'surrogateescape'))


@dataclass
class CurationResult:
    """What :func:`curate` did.

    Attributes:
        out_dir (str): The output folder.
        manifest (str): Path of the manifest.
        report (str): Path of the CSV report.
        decisions (list[CurationDecision]): One per input, sorted by id.
        statistics (dict): :func:`compute_statistics` of the decisions.
        reused (int): Analyses taken from the journal.
        analysed (int): Analyses computed in this run.
        seconds (float): Wall time.
        warnings (list[str]): Things worth a look (also printed).
    """
    out_dir: str
    manifest: str
    report: str
    decisions: List[CurationDecision]
    statistics: dict
    reused: int = 0
    analysed: int = 0
    seconds: float = 0.0
    warnings: List[str] = field(default_factory=list)

    @property
    def kept(self) -> List[CurationDecision]:
        return [d for d in self.decisions if d.kept]


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def curate(raw_dirs: Sequence[str],
           out_dir: str,
           min_side: int = DEFAULT_MIN_SIDE,
           dedup_threshold: int = DEFAULT_DEDUP_THRESHOLD,
           transfer: Optional[str] = None,
           resume: bool = False,
           workers: int = 1,
           verbose: bool = True) -> CurationResult:
    """Curate raw image folders into a pre-training set.

    Writes into ``out_dir``: ``manifest.txt`` (kept images, one path per line
    relative to ``out_dir``, sorted), ``curation_report.csv`` (every input,
    its measures and why it was dropped), ``stats.txt``/``stats.json``/
    ``stats.png`` (:func:`write_statistics`), the journal
    ``curation_state.jsonl`` and, with ``transfer``, the kept files under
    ``images/<image id>``.

    Args:
        raw_dirs (Sequence[str]): Folders searched recursively for images.
        out_dir (str): Output folder (created).
        min_side (int): Drop images with width and height both under this.
        dedup_threshold (int): Largest hash distance (of 64 bits) of
            near-duplicates; negative to switch deduplication off.
        transfer (str, optional): ``'copy'``, ``'hardlink'`` or
            ``'symlink'`` to place the kept files in ``out_dir/images``;
            None lists them where they are (paths relative to ``out_dir``).
        resume (bool): Reuse the analyses journalled by an earlier
            (possibly interrupted) run on unchanged files.
        workers (int): Processes decoding images; 1 decodes in this one.
        verbose (bool): Print progress and a summary to stderr.

    Returns:
        CurationResult: The decisions, statistics and output paths.

    Raises:
        ValueError: On an unknown ``transfer`` mode or no raw folder.
        FileNotFoundError: If a raw folder does not exist.
        KeyboardInterrupt: When interrupted; the journal keeps what was done,
            so the same call with ``resume=True`` continues.
    """
    if transfer is not None and transfer not in TRANSFER_MODES:
        raise ValueError(f'transfer must be one of {TRANSFER_MODES} or None,'
                         f' got {transfer!r}')
    if not raw_dirs:
        raise ValueError('give at least one raw folder')
    start = time.monotonic()
    out_abs = os.path.abspath(out_dir)
    os.makedirs(out_abs, exist_ok=True)
    images = find_images(raw_dirs, exclude_dirs=[out_abs])
    _say(verbose, f'[curate] {len(images)} image files in '
         f'{len(raw_dirs)} folder(s)')
    journal = AnalysisJournal(os.path.join(out_abs, JOURNAL_NAME), resume)
    warnings = []
    if resume and journal.discarded:
        warnings.append('the journal was written by another version and '
                        'was discarded; every image is analysed again')
    try:
        analyses, reused = _analyse_all(images, journal, workers, verbose)
    except KeyboardInterrupt:
        _say(verbose, f'\n[curate] interrupted; {len(journal.records)} '
             'analyses are journalled: run again with --resume')
        raise
    finally:
        journal.close()
    decisions = select_images(images, analyses, min_side, dedup_threshold)

    kept = [d for d in decisions if d.kept]
    bar = _ProgressLine(transfer or 'list', len(kept),
                        verbose and transfer is not None)
    fallbacks = 0
    for done, decision in enumerate(kept, start=1):
        if transfer is None:
            decision.manifest_entry = os.path.relpath(
                os.path.abspath(decision.image.path),
                out_abs).replace(os.sep, '/')
        else:
            decision.manifest_entry = f'{IMAGES_DIR}/{decision.image.image_id}'
            used = _place(decision.image.path,
                          os.path.join(out_abs, decision.manifest_entry),
                          transfer)
            fallbacks += used != transfer
            bar.update(done)
    bar.finish(len(kept))
    if fallbacks:
        warnings.append(f'{fallbacks} file(s) could not be hard-linked '
                        '(another file system?) and were symbolic-linked')
    images_dir = os.path.join(out_abs, IMAGES_DIR)
    if os.path.isdir(images_dir):
        placed = {os.path.join(out_abs, d.manifest_entry) for d in kept}
        stale = sum(1 for p in _files_under(images_dir) if p not in placed)
        if stale:
            warnings.append(f'{stale} file(s) under {images_dir} are not in '
                            'the manifest (left from an earlier run); the '
                            'manifest, not the folder, defines the set')
    if not kept:
        warnings.append('no image was kept: the manifest is empty')

    manifest = os.path.join(out_abs, MANIFEST_NAME)
    atomic_write_text(manifest, ''.join(d.manifest_entry + '\n' for d in kept))
    report = os.path.join(out_abs, REPORT_NAME)
    _write_report(report, decisions)
    title = (f'Curated pre-training set: {len(kept)} of {len(decisions)} '
             f'images kept (min side {min_side} px, near-duplicate distance '
             f'<= {dedup_threshold} of 64 bits)')
    statistics = write_statistics(out_abs, decisions, title)
    for warning in warnings:
        _say(verbose, f'[curate] warning: {warning}')
    return CurationResult(out_abs, manifest, report, decisions, statistics,
                          reused=reused, analysed=len(images) - reused,
                          seconds=time.monotonic() - start,
                          warnings=warnings)


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------
def _long_side_labels() -> List[str]:
    edges = _LONG_SIDE_EDGES
    labels = [f'<{hi}' if lo == 0 else f'{lo}-{hi - 1}'
              for lo, hi in zip(edges, edges[1:])]
    return labels + [f'>={edges[-1]}']


def _long_side_bin(long_side: int) -> str:
    return _long_side_labels()[bisect.bisect_right(_LONG_SIDE_EDGES,
                                                   long_side) - 1]


def _summary(values: Sequence[float]) -> Optional[Dict[str, float]]:
    if not len(values):
        return None
    arr = np.asarray(values, np.float64)
    return {'mean': float(arr.mean()), 'std': float(arr.std()),
            'min': float(arr.min()), 'median': float(np.median(arr)),
            'max': float(arr.max())}


def compute_statistics(decisions: Sequence[CurationDecision],
                       title: str = '') -> dict:
    """Statistics of a curated (or just analysed) set.

    Args:
        decisions (Sequence[CurationDecision]): One per input.
        title (str): A line describing the set.

    Returns:
        dict: JSON-ready: ``num_inputs``, ``num_images`` (kept), ``dropped``
        (count per reason), ``entropy`` (mean/std/min/median/max of the
        per-image entropies of the kept images, bits; None when empty),
        ``width``/``height`` summaries, ``smallest``/``largest`` (``[W, H]``
        by pixel count), ``long_side_histogram`` (bin -> count),
        ``bit_depth`` (dtype -> count), ``colour`` (gray/colour counts) and
        ``sources`` (per source: ``inputs``, ``kept``, each drop reason and
        ``entropy_mean``).
    """
    kept = [d.analysis for d in decisions if d.kept]
    dropped = {r: sum(d.reason == r for d in decisions) for r in DROP_REASONS}
    sources: Dict[str, dict] = {}
    for d in decisions:
        row = sources.setdefault(d.image.source, dict(
            inputs=0, kept=0, **dict.fromkeys(DROP_REASONS, 0),
            entropy_sum=0.0))
        row['inputs'] += 1
        if d.kept:
            row['kept'] += 1
            row['entropy_sum'] += d.analysis.entropy
        else:
            row[d.reason] += 1
    for row in sources.values():
        total = row.pop('entropy_sum')
        row['entropy_mean'] = total / row['kept'] if row['kept'] else None
    histogram = dict.fromkeys(_long_side_labels(), 0)
    for a in kept:
        histogram[_long_side_bin(max(a.width, a.height))] += 1
    by_area = sorted(kept, key=lambda a: (a.width * a.height, a.width))
    return {
        'title': title,
        'num_inputs': len(decisions),
        'num_images': len(kept),
        'dropped': dropped,
        'entropy': _summary([a.entropy for a in kept]),
        'width': _summary([a.width for a in kept]),
        'height': _summary([a.height for a in kept]),
        'smallest': [by_area[0].width, by_area[0].height] if kept else None,
        'largest': [by_area[-1].width, by_area[-1].height] if kept else None,
        'long_side_histogram': histogram,
        'bit_depth': {k: sum(a.dtype == k for a in kept)
                      for k in sorted({a.dtype for a in kept})},
        'colour': {'gray': sum(a.channels == 1 for a in kept),
                   'colour': sum(a.channels > 1 for a in kept)},
        'sources': dict(sorted(sources.items())),
    }


def format_statistics(stats: dict) -> str:
    """The statistics as a plain-text table (what the CLI prints)."""
    lines = [stats['title']] if stats.get('title') else []
    reasons = [r for r in DROP_REASONS if stats['dropped'][r]]
    header = ['source', 'inputs', 'kept', *reasons, 'entropy']
    rows = []
    for name, row in stats['sources'].items():
        ent = row['entropy_mean']
        rows.append([name, row['inputs'], row['kept'],
                     *[row[r] for r in reasons],
                     '-' if ent is None else f'{ent:.2f}'])
    ent = stats['entropy']
    rows.append(['total', stats['num_inputs'], stats['num_images'],
                 *[stats['dropped'][r] for r in reasons],
                 '-' if ent is None else f'{ent["mean"]:.2f}'])
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]

    def fmt(row: Sequence) -> str:
        return '  '.join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                         for i, (v, w) in enumerate(zip(row, widths)))

    lines += ['', fmt(header), fmt(['-' * w for w in widths])]
    lines += [fmt(r) for r in rows[:-1]]
    lines += [fmt(['-' * w for w in widths]), fmt(rows[-1]), '']
    if ent is None:
        lines.append('no images')
        return '\n'.join(lines) + '\n'
    lines.append('information entropy (eq. 1, bits of the 256-level gray '
                 'histogram, per image): ' + '  '.join(
                     f'{k} {ent[k]:.3f}'
                     for k in ('mean', 'std', 'min', 'median', 'max')))
    w, h = stats['width'], stats['height']
    lines.append(f'resolution (W x H): smallest {stats["smallest"][0]}x'
                 f'{stats["smallest"][1]}, largest {stats["largest"][0]}x'
                 f'{stats["largest"][1]}, median {w["median"]:g}x'
                 f'{h["median"]:g}')
    bins = stats['long_side_histogram']
    lines.append('longer side (px): ' + '  '.join(
        f'{k}: {v}' for k, v in bins.items() if v))
    lines.append('pixel type: ' + '  '.join(
        f'{k}: {v}' for k, v in stats['bit_depth'].items()) +
                 f'  (gray {stats["colour"]["gray"]}, colour '
                 f'{stats["colour"]["colour"]})')
    return '\n'.join(lines) + '\n'


def plot_statistics(stats: dict,
                    decisions: Sequence[CurationDecision],
                    max_sources: int = 30) -> bytes:
    """Draw the statistics as a PNG.

    Four panels: the entropy histogram of the kept images, their width vs.
    height, the longer-side histogram, and per source the kept and dropped
    counts (the ``max_sources`` largest sources; the rest summed as one bar).

    Args:
        stats (dict): :func:`compute_statistics` output.
        decisions (Sequence[CurationDecision]): The same decisions.
        max_sources (int): Bars drawn in the per-source panel.

    Returns:
        bytes: The PNG file contents.
    """
    # The object-oriented API with the Agg canvas: no pyplot state and no
    # global backend switch in the caller's process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kept = [d.analysis for d in decisions if d.kept]
    fig = Figure(figsize=(13, 9), dpi=100)
    FigureCanvasAgg(fig)
    ax_ent, ax_res, ax_side, ax_src = fig.subplots(2, 2).ravel()
    if stats.get('title'):
        fig.suptitle(stats['title'], fontsize=10)

    ent = [a.entropy for a in kept]
    ax_ent.hist(ent, bins=np.linspace(0, 8, 33), color='tab:blue')
    if ent:
        mean = stats['entropy']['mean']
        ax_ent.axvline(mean, color='tab:red', label=f'mean {mean:.2f} bits')
        ax_ent.legend(loc='upper left')
    ax_ent.set(title='Information entropy per image (eq. 1)',
               xlabel='bits', ylabel='images')

    # Thin out very large sets: the scatter only shows the spread.
    step = max(1, len(kept) // 20000)
    ax_res.scatter([a.width for a in kept[::step]],
                   [a.height for a in kept[::step]], s=4, alpha=0.4)
    if kept:
        ax_res.set(xscale='log', yscale='log')
    ax_res.set(title=f'Resolution of {len(kept)} images', xlabel='width (px)',
               ylabel='height (px)')

    bins = stats['long_side_histogram']
    ax_side.bar(range(len(bins)), list(bins.values()), color='tab:green')
    ax_side.set_xticks(range(len(bins)), list(bins), rotation=30, fontsize=8)
    ax_side.set(title='Longer side', xlabel='px', ylabel='images')

    sources = sorted(stats['sources'].items(),
                     key=lambda kv: (-kv[1]['inputs'], kv[0]))
    if len(sources) > max_sources:
        rest = sources[max_sources - 1:]
        merged = {k: sum(row[k] for _, row in rest)
                  for k in ('inputs', 'kept', *DROP_REASONS)}
        sources = sources[:max_sources - 1] + [
            (f'other ({len(rest)} sources)', merged)]
    names = [name for name, _ in sources][::-1]
    left = np.zeros(len(names))
    for key, color in zip(('kept', *DROP_REASONS),
                          ('tab:blue', 'tab:gray', 'tab:orange', 'tab:red',
                           'tab:purple')):
        counts = np.array([row[key] for _, row in sources][::-1], float)
        if counts.any():
            ax_src.barh(names, counts, left=left, color=color, label=key)
            left += counts
    if names:
        ax_src.legend(loc='lower right', fontsize=8)
    ax_src.tick_params(axis='y', labelsize=7)
    ax_src.set(title='Images per source', xlabel='images')

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    return buf.getvalue()


def write_statistics(out_dir: str, decisions: Sequence[CurationDecision],
                     title: str = '') -> dict:
    """Write ``stats.txt``, ``stats.json`` and ``stats.png`` atomically.

    Args:
        out_dir (str): Output folder.
        decisions (Sequence[CurationDecision]): One per input.
        title (str): First line of the table and plot.

    Returns:
        dict: :func:`compute_statistics` output.
    """
    stats = compute_statistics(decisions, title)
    atomic_write_text(os.path.join(out_dir, STATS_TABLE_NAME),
                      format_statistics(stats))
    atomic_write_text(os.path.join(out_dir, STATS_JSON_NAME),
                      json.dumps(stats, indent=2) + '\n')
    atomic_write_bytes(os.path.join(out_dir, STATS_PLOT_NAME),
                       plot_statistics(stats, decisions))
    return stats


def dataset_statistics(inputs: Sequence[str],
                       out_dir: str,
                       data_root: Optional[str] = None,
                       resume: bool = False,
                       workers: int = 1,
                       verbose: bool = True) -> dict:
    """Statistics of existing folders or manifests, without curating.

    Every readable image counts; unreadable ones are counted as dropped.

    Args:
        inputs (Sequence[str]): Folders (searched recursively) and/or
            manifest files.
        out_dir (str): Where ``stats.*`` and the journal are written.
        data_root (str, optional): Root of manifest paths (default: each
            manifest's folder).
        resume (bool): Reuse journalled analyses in ``out_dir``.
        workers (int): Decoding processes.
        verbose (bool): Print progress to stderr.

    Returns:
        dict: :func:`compute_statistics` output.
    """
    out_abs = os.path.abspath(out_dir)
    os.makedirs(out_abs, exist_ok=True)
    folders = [p for p in inputs if os.path.isdir(p)]
    images = find_images(folders) if folders else []
    for path in inputs:
        if not os.path.isdir(path):
            images += read_manifest_images(path, data_root)
    journal = AnalysisJournal(os.path.join(out_abs, JOURNAL_NAME), resume)
    try:
        analyses, _ = _analyse_all(images, journal, workers, verbose)
    finally:
        journal.close()
    decisions = []
    for image in sorted(images, key=lambda im: im.image_id):
        analysis = analyses[os.path.abspath(image.path)]
        decisions.append(CurationDecision(
            image, analysis, reason='' if analysis.readable else UNREADABLE))
    title = (f'Statistics of {", ".join(inputs)}: {len(images)} images, '
             'no filtering')
    return write_statistics(out_abs, decisions, title)
