"""Curation of an unlabeled infrared pre-training set, the Inf30 way.

Section 3.1 of the InfMAE paper builds Inf30 from images gathered from
several sources and cleans them in two ways: images whose width *and* height
are both under 20 pixels are removed, and images that closely resemble an
"anchor" image (typically frames of the same video) are removed so that the
set stays diverse (Table 8 shows that similar images add nothing). Section
3.2 measures the detail richness of the set with the information entropy of
equation 1. This package does the same for any folders of images. Its
modules, by concern: :mod:`~.inputs` (what is curated), :mod:`~.measures`
(per-image analysis), :mod:`~.borders` (optional constant-border crop),
:mod:`~.near_duplicates` (the near-duplicate measure, shared with the M3FD
scene split), :mod:`~.journal` (resume), :mod:`~.selection` (what is kept),
:mod:`~.statistics` (report, statistics, plot) and :mod:`~.pipeline` (the
command). Steps:

1. **find**: every file with an image suffix (:data:`IMAGE_SUFFIXES`, any
   case) under the raw folders, searched recursively. Each gets an id
   ``<source label>/<path relative to its raw folder>``; the source label is
   the raw folder's name (``raw``, ``raw_2`` if two folders share a name).
   Everything below is done in the sorted order of these ids, so the result
   never depends on the order in which the file system lists files.
2. **analyse**: each file is decoded once (:func:`analyse_image`; FLIR
   radiometric JPEGs as temperature maps) into its size, bit depth, a
   256-level gray image (:func:`gray_levels`), optionally cropped to its
   content (:func:`content_box`), its entropy (:func:`information_entropy`)
   and its near-duplicate :class:`Signature` (thumbnail and window hashes).
   Results are journalled in an append-only JSON lines file
   (:class:`AnalysisJournal`) so that an interrupted run resumes where it
   stopped.
3. **select** (:func:`select_images`): drop unreadable files, images under
   the size threshold, and near-duplicates. The paper removes images that
   closely resemble an anchor image; here images are visited largest first
   (ties in sorted id order) and an image becomes an anchor (is kept) unless
   it is a near-duplicate of a kept anchor (:class:`NearDuplicateIndex`:
   window-hash candidates, then a shift- and scale-tolerant comparison; see
   :mod:`~.near_duplicates`). Comparing only with kept anchors avoids
   chaining (A~B and B~C do not remove C when C is far from A).
4. **write**: the manifest (one path per line, relative to the output folder,
   as read by mmpretrain's ``CustomDataset(ann_file=..., with_label=False)``),
   a CSV report of every input and why it was dropped, statistics as a text
   table, JSON and a PNG plot (per source: images, share, entropy);
   optionally the kept files are copied (cropped with ``crop_borders``) or
   linked into the output folder. Every output is written atomically.

Entropy
-------
Equation 1, ``H = -sum_i P(x_i) log2 P(x_i)`` over the 256 gray levels of the
image (bits; 0 for a flat image, at most 8). Colour images are converted to
gray first (ITU-R BT.601 weights, :func:`cv2.cvtColor`). Images with more
than 8 bits (16-bit radiometric counts, float TIFFs) are first mapped to 256
levels: the 0.5 and 99.5 percentiles of the image (:func:`numpy.percentile`,
linear interpolation) map to 0 and 255, values outside are clipped and the
result is rounded. The same gray image feeds the signature. The set's
entropy is the mean of the per-image entropies, the statistic the paper
reports (6.44 bits for Inf30).
"""
from ..datasets.metainfo import IMAGE_SUFFIXES
from .borders import content_box
from .inputs import IMAGES_DIR, SourceImage, find_images, read_manifest_images
from .journal import AnalysisJournal
from .measures import (ImageAnalysis, analyse_image, gray_levels,
                       information_entropy)
from .near_duplicates import (HammingIndex, NearDuplicateIndex, Signature,
                              hamming_distance, perceptual_hash, signature,
                              similarity, thumbnail)
from .pipeline import (JOURNAL_NAME, MANIFEST_NAME, REPORT_NAME,
                       TRANSFER_MODES, CurationResult, curate,
                       dataset_statistics)
from .selection import (DEFAULT_DEDUP_THRESHOLD, DEFAULT_MIN_SIDE,
                        DEFAULT_MIN_SIMILARITY, DROP_REASONS, NEAR_DUPLICATE,
                        TOO_SMALL, UNLISTABLE, UNREADABLE, CurationDecision,
                        select_images)
from .statistics import (STATS_JSON_NAME, STATS_PLOT_NAME, STATS_TABLE_NAME,
                         compute_statistics, format_statistics,
                         plot_statistics, write_report, write_statistics)

__all__ = [
    'IMAGE_SUFFIXES', 'IMAGES_DIR', 'SourceImage', 'find_images',
    'read_manifest_images', 'AnalysisJournal', 'ImageAnalysis',
    'analyse_image', 'gray_levels', 'information_entropy', 'HammingIndex',
    'hamming_distance', 'perceptual_hash', 'NearDuplicateIndex', 'Signature',
    'signature', 'similarity', 'thumbnail', 'content_box', 'JOURNAL_NAME',
    'MANIFEST_NAME', 'REPORT_NAME', 'TRANSFER_MODES', 'CurationResult',
    'curate', 'dataset_statistics', 'DEFAULT_DEDUP_THRESHOLD',
    'DEFAULT_MIN_SIDE', 'DEFAULT_MIN_SIMILARITY', 'DROP_REASONS',
    'NEAR_DUPLICATE', 'TOO_SMALL', 'UNLISTABLE', 'UNREADABLE',
    'CurationDecision', 'select_images', 'STATS_JSON_NAME', 'STATS_PLOT_NAME',
    'STATS_TABLE_NAME', 'compute_statistics', 'format_statistics',
    'plot_statistics', 'write_report', 'write_statistics'
]
