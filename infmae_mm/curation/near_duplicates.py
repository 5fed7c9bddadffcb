"""The near-duplicate measure, shared by curation and the M3FD scene split.

Two images are near-duplicates when one shows the other's scene from almost
the same viewpoint: re-encoded, resized, brighter or darker, at another bit
depth, or moved like consecutive frames of a video (shifted or cropped by up
to about 10% of the frame, zoomed by up to about 10%). The measure has a
cheap part that finds candidates and an exact part that decides.

Signature (:func:`signature`, once per image)
---------------------------------------------
* A 32x32 **thumbnail**: the 256-level gray image area-averaged to 32x32
  (the aspect ratio is not kept; the comparison searches per-axis scales).
* 64-bit **DCT perceptual hashes** (:func:`perceptual_hash`): a 32x32
  area-averaged thumbnail, its 2-D DCT, and one bit per each of the 63
  lowest-frequency AC coefficients (the 8x8 top-left block without the DC
  term): 1 when it is above their median. A hash ignores brightness offset
  and gain, JPEG re-encoding, resizing and bit depth, but changes when the
  content moves by a few percent. So hashes are taken of several *windows*
  of the image (cut from a 64x64 area-averaged thumbnail): the whole frame;
  as an anchor, a 5x5 grid of windows covering 80% of each side at offsets
  0, 5, 10, 15 and 20%; as a query, 5 central windows covering 72, 76, 80,
  84 and 88% of each side. A frame shifted by up to 10% has its central 80%
  window within 2.5% of one grid window of the original; a crop or a zoom
  of up to about 10% is met by one of the other central sizes.

Candidates (:class:`NearDuplicateIndex`, sub-quadratic)
-------------------------------------------------------
Kept images (anchors) store their 26 grid hashes in a multi-index Hamming
table (:class:`HammingIndex`). A new image looks up its 6 query hashes;
anchors with a hash within ``candidate_distance`` bits (default
:data:`DEFAULT_CANDIDATE_DISTANCE`) are candidates. The lookup touches only
the buckets of the query's hash bands and their few-bit neighbours, never
every anchor.

Decision (:func:`similarity`, shift and scale tolerant)
-------------------------------------------------------
Each thumbnail has every row's mean removed (the sky-to-ground gradient
that all outdoor scenes share would otherwise make unrelated frames look
alike). The query's thumbnail is rescaled by each of 0.88, 0.94, 1, 1.06
and 1.12 horizontally and vertically (25 combinations), its central 70% is
searched in the anchor's thumbnail (every shift up to about 15% of the
frame) with OpenCV's normalised cross-correlation (``TM_CCOEFF_NORMED``),
and the similarity is the best correlation found: 1 for the same picture up
to gain, offset, shift and scale. A candidate with a similarity of at least
``min_similarity`` (default :data:`DEFAULT_MIN_SIMILARITY`) is a
near-duplicate; the most similar candidate is reported. Two flat images are
similar (1.0); a flat and a structured one are not (0.0).

The M3FD converter groups consecutive frames into scenes with the same
:func:`similarity` at a lower threshold (frames of one scene drift further
than near-duplicates). The thresholds were set on generated sequences
(:mod:`infmae_mm.testing.sequences`); the data curation page of the docs
(``docs/en/user_guides/data_curation.md``) gives the measured recall, false
positives and throughput.
"""
from __future__ import annotations
import base64
import itertools
import math
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'DEFAULT_CANDIDATE_DISTANCE', 'DEFAULT_MIN_SIMILARITY', 'Signature',
    'NearDuplicate', 'perceptual_hash', 'hamming_distance', 'thumbnail',
    'signature', 'similarity', 'HammingIndex', 'NearDuplicateIndex'
]

#: Largest Hamming distance (of 64 bits) between a query hash and an
#: anchor hash that makes the anchor a candidate.
DEFAULT_CANDIDATE_DISTANCE = 10
#: Smallest :func:`similarity` of near-duplicates.
DEFAULT_MIN_SIMILARITY = 0.67

_HASH_BITS = 64
_HASH_BANDS = 4
_THUMB_SIDE = 32
_DCT_SIDE = 8
_BASE_SIDE = 64
_VERIFY_SIDE = 48
# Local contrast normalisation of the compared thumbnails: Gaussian window
# (thumbnail pixels) and the spread floor (gray levels) that keeps flat
# regions from amplifying noise.
_LCN_SIGMA = 3.0
_LCN_FLOOR = 2.0
_BLOCKS = 3
_BLOCK_MIN_STD = 6.0
_BLOCK_WEIGHT = 0.5
_GRID_SIZE = 0.8
_GRID_OFFSETS = (0.0, 0.05, 0.1, 0.15, 0.2)
_QUERY_SIZES = (0.72, 0.76, 0.8, 0.84, 0.88)
_SCALES = (0.88, 0.94, 1.0, 1.06, 1.12)
_TEMPLATE_FRACTION = 0.7
_FLAT = 1e-3

Window = Tuple[float, float, float, float]
#: Windows hashed for anchors: the whole frame, then the grid.
GRID_WINDOWS: Tuple[Window, ...] = ((0.0, 0.0, 1.0, 1.0), ) + tuple(
    (x, y, x + _GRID_SIZE, y + _GRID_SIZE) for y in _GRID_OFFSETS
    for x in _GRID_OFFSETS)
#: Windows hashed for queries: the whole frame, then the central windows.
QUERY_WINDOWS: Tuple[Window, ...] = ((0.0, 0.0, 1.0, 1.0), ) + tuple(
    ((1 - s) / 2, (1 - s) / 2, (1 + s) / 2, (1 + s) / 2) for s in _QUERY_SIZES)


def _dct_basis(n: int = _THUMB_SIDE, k: int = _DCT_SIDE) -> np.ndarray:
    """The first ``k`` rows of the orthonormal DCT-II matrix (cv2.dct's)."""
    rows = np.arange(k, dtype=np.float64)[:, None]
    cols = np.arange(n, dtype=np.float64)[None, :]
    basis = np.cos(math.pi * (2 * cols + 1) * rows / (2 * n))
    basis *= math.sqrt(2.0 / n)
    basis[0] /= math.sqrt(2.0)
    return basis


_DCT = _dct_basis()


def _hashes(thumbs: np.ndarray) -> List[int]:
    """DCT hashes of a stack of ``(V, 32, 32)`` thumbnails."""
    thumbs = np.asarray(thumbs, np.float64)
    coeffs = _DCT @ thumbs @ _DCT.T
    ac = coeffs.reshape(len(thumbs), -1)[:, 1:]
    bits = np.zeros((len(thumbs), _HASH_BITS), bool)
    bits[:, 1:] = ac > np.median(ac, axis=1, keepdims=True)
    flat = np.ptp(thumbs.reshape(len(thumbs), -1), axis=1) < _FLAT
    packed = np.packbits(bits, axis=1)
    return [
        0 if f else int.from_bytes(row.tobytes(), 'big')
        for f, row in zip(flat, packed)
    ]


def _area(img: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(
        np.asarray(img, np.float32), (side, side),
        interpolation=cv2.INTER_AREA)


def perceptual_hash(levels: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a gray image.

    Bit ``62 - k`` is set when the ``k``-th AC coefficient (row-major order
    in the 8x8 lowest-frequency block of the DCT of a 32x32 area-averaged
    thumbnail, DC left out) is above the median of the 63; bit 63 is always
    0. Offset and gain of the brightness do not change the hash.

    Args:
        levels (np.ndarray): ``(H, W)`` gray image (uint8 levels, see
            :func:`~infmae_mm.curation.measures.gray_levels`).

    Returns:
        int: The hash, ``0 <= hash < 2**63``; 0 for a flat image.
    """
    return _hashes(_area(levels, _THUMB_SIDE)[None])[0]


def hamming_distance(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    # Not int.bit_count(): it needs Python 3.10 (setup.py allows 3.8).
    return bin(a ^ b).count('1')


def thumbnail(levels: np.ndarray) -> np.ndarray:
    """The 32x32 thumbnail :func:`similarity` compares.

    Args:
        levels (np.ndarray): ``(H, W)`` gray image.

    Returns:
        np.ndarray: float32 ``(32, 32)``, the area average of ``levels``
        (aspect ratio not kept).
    """
    return _area(levels, _VERIFY_SIDE)


def _window_hashes(base: np.ndarray, windows: Sequence[Window]) -> List[int]:
    side = base.shape[0]
    thumbs = []
    for x0, y0, x1, y1 in windows:
        crop = base[int(round(y0 * side)):int(round(y1 * side)),
                    int(round(x0 * side)):int(round(x1 * side))]
        thumbs.append(_area(crop, _THUMB_SIDE))
    return _hashes(np.stack(thumbs))


@dataclass
class Signature:
    """What the near-duplicate measure keeps of one image.

    Attributes:
        thumbnail (np.ndarray): uint8 ``(32, 32)`` thumbnail (rounded
            :func:`thumbnail`).
        anchor_hashes (tuple[int, ...]): Hashes of :data:`GRID_WINDOWS`
            (the first is the whole frame's :func:`perceptual_hash`).
        query_hashes (tuple[int, ...]): Hashes of :data:`QUERY_WINDOWS`
            (the first is the whole frame's).
    """
    thumbnail: np.ndarray
    anchor_hashes: Tuple[int, ...]
    query_hashes: Tuple[int, ...]

    @property
    def phash(self) -> int:
        """The whole frame's :func:`perceptual_hash`."""
        return self.anchor_hashes[0]

    def to_dict(self) -> dict:
        """JSON-ready form (hashes in hex, thumbnail in base64)."""
        return {
            'thumbnail': base64.b64encode(self.thumbnail.tobytes()).decode(),
            'anchor_hashes': [f'{h:016x}' for h in self.anchor_hashes],
            'query_hashes': [f'{h:016x}' for h in self.query_hashes],
        }

    @classmethod
    def from_dict(cls, record: dict) -> 'Signature':
        """Inverse of :meth:`to_dict`; raises ValueError if malformed."""
        thumb = np.frombuffer(base64.b64decode(record['thumbnail']), np.uint8)
        if thumb.size != _VERIFY_SIDE * _VERIFY_SIDE:
            raise ValueError(f'thumbnail has {thumb.size} values')
        anchors = tuple(int(h, 16) for h in record['anchor_hashes'])
        queries = tuple(int(h, 16) for h in record['query_hashes'])
        if len(anchors) != len(GRID_WINDOWS) or \
                len(queries) != len(QUERY_WINDOWS):
            raise ValueError('wrong number of window hashes')
        return cls(
            thumb.reshape(_VERIFY_SIDE, _VERIFY_SIDE).copy(), anchors, queries)


def signature(levels: np.ndarray) -> Signature:
    """Thumbnail and window hashes of a gray image (see the module doc).

    Args:
        levels (np.ndarray): ``(H, W)`` gray image.

    Returns:
        Signature: Its signature.
    """
    thumb = thumbnail(levels)
    base = _area(levels, _BASE_SIDE)
    whole = perceptual_hash(levels)
    grid = _window_hashes(base, GRID_WINDOWS[1:])
    central = _window_hashes(base, QUERY_WINDOWS[1:])
    return Signature(
        np.clip(np.rint(thumb), 0, 255).astype(np.uint8), (whole, *grid),
        (whole, *central))


def _normalised(thumb: np.ndarray) -> np.ndarray:
    """Local contrast normalisation: ``(t - m) / (s + floor)`` with ``m``
    and ``s`` the Gaussian-weighted local mean and standard deviation."""
    thumb = np.asarray(thumb, np.float32)
    mean = cv2.GaussianBlur(thumb, (0, 0), _LCN_SIGMA)
    detail = thumb - mean
    spread = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), _LCN_SIGMA))
    return np.ascontiguousarray(detail / (spread + _LCN_FLOOR))


def _is_flat(img: np.ndarray) -> bool:
    return float(np.ptp(img)) < _FLAT


@dataclass
class _Template:
    """The central part of a rescaled, normalised query thumbnail."""
    patch: np.ndarray  # (size, size), searched in the anchor
    scaled: np.ndarray  # (h, w), the whole rescaled query, normalised
    plain: np.ndarray  # (h, w), the whole rescaled query as it is
    x0: int  # where the patch lies in ``scaled``
    y0: int


def _templates(query: np.ndarray) -> List[_Template]:
    """Central parts of the query thumbnail at every per-axis scale."""
    query = np.asarray(query, np.float32)
    side = query.shape[0]
    size = int(round(side * _TEMPLATE_FRACTION))
    out = []
    for sy in _SCALES:
        for sx in _SCALES:
            w, h = int(round(side * sx)), int(round(side * sy))
            plain = cv2.resize(query, (w, h), interpolation=cv2.INTER_LINEAR)
            scaled = _normalised(plain)
            x0, y0 = (w - size) // 2, (h - size) // 2
            patch = np.ascontiguousarray(scaled[y0:y0 + size, x0:x0 + size])
            if not _is_flat(patch):
                out.append(_Template(patch, scaled, plain, x0, y0))
    return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / norm if norm > 0 else 0.0


def _overlap(template: _Template, shape: Tuple[int, int], x: int,
             y: int) -> Tuple[Tuple[slice, slice], Tuple[slice, slice]]:
    """Anchor and query slices of the overlap when the query's central patch
    lies at ``(x, y)`` in the anchor."""
    ox, oy = x - template.x0, y - template.y0
    h, w = template.scaled.shape
    ax0, ay0 = max(0, ox), max(0, oy)
    ax1, ay1 = min(shape[1], ox + w), min(shape[0], oy + h)
    return ((slice(ay0, ay1), slice(ax0, ax1)), (slice(ay0 - oy, ay1 - oy),
                                                 slice(ax0 - ox, ax1 - ox)))


def _block_agreement(a_plain: np.ndarray, q_plain: np.ndarray) -> float:
    """The worst agreement of the 3x3 blocks of an overlap that have structure
    in either picture (1.0 when none has)."""
    score = 1.0
    h, w = a_plain.shape
    for i in range(_BLOCKS):
        for j in range(_BLOCKS):
            rows = slice(i * h // _BLOCKS, (i + 1) * h // _BLOCKS)
            cols = slice(j * w // _BLOCKS, (j + 1) * w // _BLOCKS)
            a, q = a_plain[rows, cols], q_plain[rows, cols]
            if max(float(a.std()), float(q.std())) < _BLOCK_MIN_STD:
                continue
            score = min(
                score,
                _BLOCK_WEIGHT + (1 - _BLOCK_WEIGHT) * _correlation(a, q))
    return score


def _anchor_views(thumb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """An anchor thumbnail normalised and as it is (float32)."""
    plain = np.ascontiguousarray(thumb, dtype=np.float32)
    return _normalised(plain), plain


def _best_match(templates: Sequence[_Template],
                anchor: Tuple[np.ndarray, np.ndarray]) -> float:
    """Similarity of a query (its templates) in a normalised anchor.

    Each template (scale) finds its best position; its score is the smaller of
    the correlations over the whole overlap of the two thumbnails at that
    position, normalised (detail) and as they are (layout), capped by the worst
    agreement of the overlap's 3x3 blocks that have structure (two scenes
    sharing one large object differ elsewhere); the best scale wins.
    """
    normalised, plain = anchor
    if _is_flat(normalised) or not templates:
        # Two flat pictures are alike; flat and structured ones are not.
        return 1.0 if _is_flat(normalised) and not templates else 0.0
    placed = []
    for template in templates:
        scores = cv2.matchTemplate(normalised, template.patch,
                                   cv2.TM_CCOEFF_NORMED)
        _, _, _, (x, y) = cv2.minMaxLoc(scores)
        a_part, q_part = _overlap(template, normalised.shape, x, y)
        whole = min(
            _correlation(normalised[a_part], template.scaled[q_part]),
            _correlation(plain[a_part], template.plain[q_part]))
        placed.append((whole, template, a_part, q_part))
    # The block check only lowers a score: check the best placements first
    # and stop when no other can beat the best checked one.
    placed.sort(key=lambda item: -item[0])
    best = 0.0
    for whole, template, a_part, q_part in placed:
        if whole <= best:
            break
        best = max(
            best,
            min(whole, _block_agreement(plain[a_part],
                                        template.plain[q_part])))
    return min(best, 1.0)


def similarity(query: np.ndarray, anchor: np.ndarray) -> float:
    """Shift- and scale-tolerant similarity of two thumbnails.

    Args:
        query (np.ndarray): ``(32, 32)`` :func:`thumbnail` of the image
            compared (e.g. the smaller one, or the later frame).
        anchor (np.ndarray): ``(32, 32)`` thumbnail it is searched in.

    Returns:
        float: In [0, 1]: the best normalised cross-correlation (row means
        removed) over the scales and shifts of the module doc; 1.0 for two
        flat images, 0.0 for a flat and a structured one.
    """
    return _best_match(_templates(query), _anchor_views(anchor))


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
        self._tables: List[Dict[int,
                                List[int]]] = [{} for _ in range(num_bands)]
        self._codes: List[int] = []
        # The same codes as uint64, grown by doubling, for vectorised
        # distances.
        self._array = np.zeros(1024, np.uint64)

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
        if index == len(self._array):
            self._array = np.concatenate(
                [self._array, np.zeros_like(self._array)])
        self._array[index] = code
        for band, key in self._bands(code):
            self._tables[band].setdefault(key, []).append(index)
        return index

    def within(self, code: int) -> Dict[int, int]:
        """Every stored hash within ``max_distance`` of ``code``.

        Args:
            code (int): The query hash.

        Returns:
            dict[int, int]: Index -> distance of each stored hash within
            ``max_distance`` (empty when ``max_distance`` is negative).
        """
        found: Dict[int, int] = {}
        if self.max_distance < 0:
            return found
        seen = set()
        for band, key in self._bands(code):
            get = self._tables[band].get
            for bucket in filter(None,
                                 [get(key ^ flip) for flip in self._flips]):
                seen.update(bucket)
        if not seen:
            return found
        indices = np.fromiter(seen, np.int64, len(seen))
        xor = self._array[indices] ^ np.uint64(code)
        dists = np.unpackbits(
            xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for index, dist in zip(indices.tolist(), dists.tolist()):
            if dist <= self.max_distance:
                found[index] = dist
        return found

    def nearest(self, code: int) -> Optional[Tuple[int, int]]:
        """The closest stored hash within ``max_distance``.

        Args:
            code (int): The query hash.

        Returns:
            tuple[int, int] | None: ``(index, distance)`` of the closest
            stored hash (the earliest added among equally close ones), or
            None when none is within ``max_distance``.
        """
        found = self.within(code)
        if not found:
            return None
        index = min(found, key=lambda i: (found[i], i))
        return index, found[index]


@dataclass
class NearDuplicate:
    """An anchor that a query is a near-duplicate of.

    Attributes:
        anchor (int): Index of the anchor (order of
            :meth:`NearDuplicateIndex.add`).
        distance (int): Smallest Hamming distance between a query hash and
            one of the anchor's hashes.
        similarity (float): :func:`similarity` of the query in the anchor.
    """
    anchor: int
    distance: int
    similarity: float


class NearDuplicateIndex:
    """Anchors, searched for near-duplicates of a query (see the module doc).

    Args:
        candidate_distance (int): Largest Hamming distance between a query
            hash and an anchor hash that makes the anchor a candidate;
            negative: nothing is ever a near-duplicate.
        min_similarity (float): Smallest :func:`similarity` of a
            near-duplicate, in [0, 1].
    """

    def __init__(self,
                 candidate_distance: int = DEFAULT_CANDIDATE_DISTANCE,
                 min_similarity: float = DEFAULT_MIN_SIMILARITY) -> None:
        if not 0.0 <= min_similarity <= 1.0:
            raise ValueError('min_similarity must be in [0, 1], got '
                             f'{min_similarity}')
        self.min_similarity = float(min_similarity)
        self._hashes = HammingIndex(candidate_distance)
        self._owner: List[int] = []
        self._anchors: List[Tuple[np.ndarray, np.ndarray]] = []
        self.comparisons = 0

    def __len__(self) -> int:
        return len(self._anchors)

    def add(self, sig: Signature) -> int:
        """Store an anchor; returns its index (0, 1, 2, ...)."""
        index = len(self._anchors)
        self._anchors.append(_anchor_views(sig.thumbnail))
        for code in sig.anchor_hashes:
            self._hashes.add(code)
            self._owner.append(index)
        return index

    def candidates(self, sig: Signature) -> Dict[int, int]:
        """Anchors with a hash near one of the query's: index -> distance."""
        found: Dict[int, int] = {}
        for code in sig.query_hashes:
            for stored, dist in self._hashes.within(code).items():
                owner = self._owner[stored]
                if dist < found.get(owner, _HASH_BITS + 1):
                    found[owner] = dist
        return found

    def match(self, sig: Signature) -> Optional[NearDuplicate]:
        """The anchor the query is a near-duplicate of, if any.

        Args:
            sig (Signature): The query's signature.

        Returns:
            NearDuplicate | None: The most similar candidate whose
            similarity is at least ``min_similarity`` (the earliest anchor
            among equally similar ones), or None.
        """
        found = self.candidates(sig)
        if not found:
            return None
        templates = _templates(sig.thumbnail)
        best: Optional[NearDuplicate] = None
        for anchor in sorted(found):
            self.comparisons += 1
            score = _best_match(templates, self._anchors[anchor])
            if score >= self.min_similarity and (best is None
                                                 or score > best.similarity):
                best = NearDuplicate(anchor, found[anchor], score)
        return best
