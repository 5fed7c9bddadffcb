"""Curation of an unlabeled infrared pre-training set, the Inf30 way.

Section 3.1 of the InfMAE paper builds Inf30 from images gathered from
several sources and cleans them in two ways: images whose width *and* height
are both under 20 pixels are removed, and images that closely resemble an
"anchor" image (typically frames of the same video) are removed so that the
set stays diverse (Table 8 shows that similar images add nothing). Section
3.2 measures the detail richness of the set with the information entropy of
equation 1. This package does the same for any folders of images. Its modules, by
concern: :mod:`~.inputs` (what is curated), :mod:`~.measures` (per-image
analysis), :mod:`~.near_duplicates` (the near-duplicate measure, shared
with the M3FD scene split), :mod:`~.journal` (resume), :mod:`~.selection`
(what is kept), :mod:`~.statistics` (report, statistics, plot) and
:mod:`~.pipeline` (the command). Steps:

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
(:mod:`infmae_mm.testing`): among 2,000 distinct 256x256 images
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
from ..datasets.metainfo import IMAGE_SUFFIXES
from .inputs import (IMAGES_DIR, SourceImage, find_images,
                     read_manifest_images)
from .journal import AnalysisJournal
from .measures import (ImageAnalysis, analyse_image, gray_levels,
                       information_entropy)
from .borders import content_box
from .near_duplicates import (HammingIndex, NearDuplicateIndex, Signature,
                              hamming_distance, perceptual_hash, signature,
                              similarity, thumbnail)
from .pipeline import (JOURNAL_NAME, MANIFEST_NAME, REPORT_NAME,
                       TRANSFER_MODES, CurationResult, curate,
                       dataset_statistics)
from .selection import (DEFAULT_DEDUP_THRESHOLD, DEFAULT_MIN_SIDE,
                        DEFAULT_MIN_SIMILARITY, DROP_REASONS, NEAR_DUPLICATE, TOO_SMALL, UNLISTABLE,
                        UNREADABLE, CurationDecision, select_images)
from .statistics import (STATS_JSON_NAME, STATS_PLOT_NAME, STATS_TABLE_NAME,
                         compute_statistics, format_statistics,
                         plot_statistics, write_report, write_statistics)

__all__ = [
    'IMAGE_SUFFIXES', 'IMAGES_DIR', 'SourceImage', 'find_images',
    'read_manifest_images', 'AnalysisJournal', 'ImageAnalysis',
    'analyse_image', 'gray_levels', 'information_entropy', 'HammingIndex',
    'hamming_distance', 'perceptual_hash', 'NearDuplicateIndex', 'Signature',
    'signature', 'similarity', 'thumbnail', 'content_box', 'JOURNAL_NAME', 'MANIFEST_NAME',
    'REPORT_NAME', 'TRANSFER_MODES', 'CurationResult', 'curate',
    'dataset_statistics', 'DEFAULT_DEDUP_THRESHOLD', 'DEFAULT_MIN_SIDE',
    'DEFAULT_MIN_SIMILARITY',
    'DROP_REASONS', 'NEAR_DUPLICATE', 'TOO_SMALL', 'UNLISTABLE',
    'UNREADABLE', 'CurationDecision', 'select_images', 'STATS_JSON_NAME',
    'STATS_PLOT_NAME', 'STATS_TABLE_NAME', 'compute_statistics',
    'format_statistics', 'plot_statistics', 'write_report',
    'write_statistics'
]
