"""Which images are kept: readable, large enough, and not near-duplicates.

Near-duplicates are decided by the measure of
:mod:`infmae_mm.curation.near_duplicates` (window-hash candidates, then a
shift- and scale-tolerant thumbnail comparison).

The anchors are chosen greedily: images are visited largest first (by pixel
count; ties in sorted id order) and an image becomes an anchor (is kept)
unless a kept anchor is a near-duplicate of it, in which case it is dropped
as a near-duplicate *of that anchor*. Comparing only with kept anchors, as
the paper does, avoids chaining (A~B and B~C do not remove C when C is far
from A). Of a group of copies the largest is kept, so the best resolution
survives; copies of the same size keep the first in sorted order.
"""
from __future__ import annotations
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .inputs import SourceImage
from .measures import ImageAnalysis
from .near_duplicates import (DEFAULT_CANDIDATE_DISTANCE,
                              DEFAULT_MIN_SIMILARITY, NearDuplicateIndex)

__all__ = [
    'DEFAULT_MIN_SIDE', 'DEFAULT_DEDUP_THRESHOLD', 'UNREADABLE', 'TOO_SMALL',
    'NEAR_DUPLICATE', 'UNLISTABLE', 'DROP_REASONS', 'DEFAULT_MIN_SIMILARITY',
    'CurationDecision', 'select_images'
]

#: The paper drops images whose width and height are both under 20 pixels.
DEFAULT_MIN_SIDE = 20
#: Largest Hamming distance (of 64 bits) between a window hash of an image
#: and one of a kept image that makes the kept image a candidate.
DEFAULT_DEDUP_THRESHOLD = DEFAULT_CANDIDATE_DISTANCE

# Drop reasons, as written in the report.
UNREADABLE = 'unreadable'
TOO_SMALL = 'too_small'
NEAR_DUPLICATE = 'near_duplicate'
UNLISTABLE = 'unlistable_path'
DROP_REASONS: Tuple[str,
                    ...] = (UNREADABLE, TOO_SMALL, NEAR_DUPLICATE, UNLISTABLE)


@dataclass
class CurationDecision:
    """The fate of one input.

    Attributes:
        image (SourceImage): The input.
        analysis (ImageAnalysis): Its measures.
        reason (str): ``''`` when kept, else one of :data:`DROP_REASONS`.
        duplicate_of (str | None): For near-duplicates, the path of the kept
            image (anchor) it resembles.
        distance (int | None): For near-duplicates, the smallest Hamming
            distance between their window hashes.
        similarity (float | None): For near-duplicates, the shift-tolerant
            similarity to that anchor.
        manifest_entry (str): For kept images, the manifest line.
    """
    image: SourceImage
    analysis: ImageAnalysis
    reason: str = ''
    duplicate_of: Optional[str] = None
    distance: Optional[int] = None
    similarity: Optional[float] = None
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


def select_images(
        images: Sequence[SourceImage],
        analyses: Dict[str, ImageAnalysis],
        min_side: int = DEFAULT_MIN_SIDE,
        dedup_threshold: int = DEFAULT_DEDUP_THRESHOLD,
        min_similarity: float = DEFAULT_MIN_SIMILARITY
) -> List[CurationDecision]:
    """Decide which images to keep (see the module docstring).

    Args:
        images (Sequence[SourceImage]): The inputs.
        analyses (dict[str, ImageAnalysis]): Analyses by absolute path.
        min_side (int): Images with width and height both under this are
            dropped as too small (measured inside a border crop).
        dedup_threshold (int): Largest window-hash distance of
            near-duplicate candidates; negative to keep near-duplicates.
        min_similarity (float): Smallest shift-tolerant similarity of
            near-duplicates, in [0, 1].

    Returns:
        list[CurationDecision]: One per input, sorted by ``image_id``.
    """
    decisions = []
    candidates = []
    for image in sorted(images, key=lambda im: im.image_id):
        analysis = analyses[os.path.abspath(image.path)]
        decision = CurationDecision(image, analysis)
        width, height = analysis.content_size
        if not _listable(image.path):
            decision.reason = UNLISTABLE
        elif not analysis.readable:
            decision.reason = UNREADABLE
        elif width < min_side and height < min_side:
            decision.reason = TOO_SMALL
        else:
            candidates.append(decision)
        decisions.append(decision)

    # Largest first, so that the best copy of a group becomes its anchor;
    # the stable sort keeps the sorted id order among equal sizes.
    def area(d: CurationDecision) -> int:
        width, height = d.analysis.content_size
        return width * height

    candidates.sort(key=lambda d: -area(d))
    index = NearDuplicateIndex(dedup_threshold, min_similarity)
    anchors: List[CurationDecision] = []
    for decision in candidates:
        hit = index.match(decision.analysis.signature)
        if hit is None:
            index.add(decision.analysis.signature)
            anchors.append(decision)
        else:
            decision.reason = NEAR_DUPLICATE
            decision.duplicate_of = anchors[hit.anchor].image.path
            decision.distance = hit.distance
            decision.similarity = hit.similarity
    return decisions
