"""The curation command's pipeline: find, analyse, select, write.

See :mod:`infmae_mm.curation` for the recipe and the measures.
"""
from __future__ import annotations
import functools
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from ..datasets.image_decoding import decode_image, is_flir_radiometric
from ..datasets.metainfo import IMAGE_SUFFIXES
from ..utils.io import atomic_open, atomic_write_bytes, atomic_write_text
from .inputs import (IMAGES_DIR, SourceImage, find_images,
                     read_manifest_images, source_labels)
from .journal import AnalysisJournal
from .measures import ImageAnalysis, analyse_image
from .selection import (DEFAULT_DEDUP_THRESHOLD, DEFAULT_MIN_SIDE,
                        DEFAULT_MIN_SIMILARITY, UNREADABLE, CurationDecision,
                        select_images)
from .statistics import write_report, write_statistics

__all__ = [
    'TRANSFER_MODES', 'MANIFEST_NAME', 'REPORT_NAME', 'JOURNAL_NAME',
    'CurationResult', 'curate', 'dataset_statistics'
]

#: How kept files are placed into the output folder (or not at all: None).
TRANSFER_MODES: Tuple[str, ...] = ('copy', 'hardlink', 'symlink')
MANIFEST_NAME = 'manifest.txt'
REPORT_NAME = 'curation_report.csv'
JOURNAL_NAME = 'curation_state.jsonl'


def _progress(enabled: bool) -> Progress:
    """Rich's progress display on stderr: redrawn in place on a terminal, one
    final line in logs."""
    return Progress(
        TextColumn('[{task.description}]', markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn('ETA'),
        TimeRemainingColumn(),
        TextColumn('{task.fields[counts]}', markup=False),
        console=Console(stderr=True),
        disable=not enabled)


def _init_worker() -> None:
    # The parent handles Ctrl-C; each worker decodes with one thread so that
    # N workers use N cores.
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)


def _analyse_all(
        images: Sequence[SourceImage],
        journal: AnalysisJournal,
        workers: int,
        progress: bool,
        crop_borders: bool = False) -> Tuple[Dict[str, ImageAnalysis], int]:
    """Analyse the images not in the journal, journalling each result.

    The pool is :class:`multiprocessing.Pool` itself, not mmengine's
    ``track_parallel_progress``: each result must be journalled as it arrives
    (resume after a kill), and that helper returns only when all are done.

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
    unreadable = 0
    pool = None
    analyse = functools.partial(analyse_image, crop_borders=crop_borders)
    if workers > 1 and len(todo) > 1:
        pool = multiprocessing.Pool(workers, initializer=_init_worker)
        analyses: Iterable[ImageAnalysis] = pool.imap(
            analyse, todo, chunksize=16)
    else:
        analyses = map(analyse, todo)
    try:
        with _progress(progress) as bar:
            counts = '(reused {}, unreadable {})'.format
            task = bar.add_task(
                'analyse', total=len(todo), counts=counts(reused, 0))
            for analysis in analyses:
                journal.append(analysis)
                results[analysis.path] = analysis
                unreadable += not analysis.readable
                bar.update(task, advance=1, counts=counts(reused, unreadable))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return results, reused


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


def _write_cropped(src: str, dst: str, box: Sequence[int]) -> bool:
    """Write ``src`` cropped to ``box`` as ``dst`` (same format), atomically.

    Returns:
        bool: False when the file is not an image OpenCV re-encodes as it is
        (a FLIR radiometric JPEG, whose temperatures live in its metadata);
        it is then left to be copied whole.
    """
    with open(src, 'rb') as f:
        data = f.read()
    if is_flir_radiometric(data):
        return False
    img = decode_image(data)
    x0, y0, x1, y1 = box
    params = [cv2.IMWRITE_JPEG_QUALITY, 95
              ] if os.path.splitext(dst)[1].lower() in ('.jpg',
                                                        '.jpeg') else []
    ok, buf = cv2.imencode(
        os.path.splitext(dst)[1], np.ascontiguousarray(img[y0:y1, x0:x1]),
        params)
    if not ok:
        return False
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    atomic_write_bytes(dst, buf.tobytes())
    return True


def _files_under(folder: str) -> Iterator[str]:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            yield os.path.join(dirpath, name)


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


def _no_images(inputs: Sequence[str], what: str) -> ValueError:
    """The error of a run that found no image in ``inputs``."""
    return ValueError(
        f'no image files ({" ".join(IMAGE_SUFFIXES)}, any case, searched '
        f'recursively) in {", ".join(inputs)}: give as RAW_DIR {what}')


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
           verbose: bool = True,
           min_similarity: float = DEFAULT_MIN_SIMILARITY,
           crop_borders: bool = False) -> CurationResult:
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
        dedup_threshold (int): Largest window-hash distance (of 64 bits)
            of near-duplicate candidates; negative to switch deduplication
            off.
        transfer (str, optional): ``'copy'``, ``'hardlink'`` or
            ``'symlink'`` to place the kept files in ``out_dir/images``;
            None lists them where they are (paths relative to ``out_dir``).
        resume (bool): Reuse the analyses journalled by an earlier
            (possibly interrupted) run on unchanged files.
        workers (int): Processes decoding images; 1 decodes in this one.
        verbose (bool): Print progress and a summary to stderr.
        min_similarity (float): Smallest shift-tolerant similarity of
            near-duplicates (see :mod:`infmae_mm.curation.near_duplicates`).
        crop_borders (bool): Crop constant borders before measuring
            (:mod:`infmae_mm.curation.borders`); with ``transfer='copy'``
            the cropped image is written.

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
    images = find_images(raw_dirs, exclude_dirs=[out_abs])
    found = {image.image_id.split('/')[0] for image in images}
    if not found:
        raise _no_images(raw_dirs, 'the folders that hold the raw images')
    warnings = [
        f'no image files in {folder}'
        for folder, label in zip(raw_dirs, source_labels(raw_dirs))
        if label not in found
    ]
    os.makedirs(out_abs, exist_ok=True)
    _say(
        verbose, f'[curate] {len(images)} image files in '
        f'{len(raw_dirs)} folder(s)')
    journal = AnalysisJournal(
        os.path.join(out_abs, JOURNAL_NAME), resume, crop_borders)
    if resume and journal.discarded:
        warnings.append('the journal was written by another version and '
                        'was discarded; every image is analysed again')
    try:
        analyses, reused = _analyse_all(images, journal, workers, verbose,
                                        crop_borders)
    except KeyboardInterrupt:
        _say(
            verbose, f'\n[curate] interrupted; {len(journal.records)} '
            'analyses are journalled: run again with --resume')
        raise
    finally:
        journal.close()
    decisions = select_images(images, analyses, min_side, dedup_threshold,
                              min_similarity)

    kept = [d for d in decisions if d.kept]
    fallbacks = cropped = 0
    with _progress(verbose and transfer is not None) as bar:
        task = bar.add_task(transfer or 'list', total=len(kept), counts='')
        for decision in kept:
            if transfer is None:
                decision.manifest_entry = os.path.relpath(
                    os.path.abspath(decision.image.path),
                    out_abs).replace(os.sep, '/')
                continue
            decision.manifest_entry = f'{IMAGES_DIR}/{decision.image.image_id}'
            dst = os.path.join(out_abs, decision.manifest_entry)
            crop = decision.analysis.crop
            if transfer == 'copy' and crop is not None and _write_cropped(
                    decision.image.path, dst, crop):
                cropped += 1
            else:
                used = _place(decision.image.path, dst, transfer)
                fallbacks += used != transfer
            bar.update(task, advance=1)
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
    write_report(report, decisions)
    if crop_borders and transfer in ('hardlink', 'symlink'):
        warnings.append('--crop-borders with links: the linked files keep '
                        'their borders (crops are only written with --copy)')
    title = (f'Curated pre-training set: {len(kept)} of {len(decisions)} '
             f'images kept (min side {min_side} px, near-duplicates: window '
             f'hashes within {dedup_threshold} of 64 bits and similarity >= '
             f'{min_similarity:g}'
             f'{", borders cropped" if crop_borders else ""})')
    statistics = write_statistics(out_abs, decisions, title)
    for warning in warnings:
        _say(verbose, f'[curate] warning: {warning}')
    return CurationResult(
        out_abs,
        manifest,
        report,
        decisions,
        statistics,
        reused=reused,
        analysed=len(images) - reused,
        seconds=time.monotonic() - start,
        warnings=warnings)


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
    folders = [p for p in inputs if os.path.isdir(p)]
    images = find_images(folders) if folders else []
    for path in inputs:
        if not os.path.isdir(path):
            images += read_manifest_images(path, data_root)
    if not images:
        raise _no_images(inputs, 'folders that hold images or manifests')
    os.makedirs(out_abs, exist_ok=True)
    journal = AnalysisJournal(os.path.join(out_abs, JOURNAL_NAME), resume)
    try:
        analyses, _ = _analyse_all(images, journal, workers, verbose)
    finally:
        journal.close()
    decisions = []
    for image in sorted(images, key=lambda im: im.image_id):
        analysis = analyses[os.path.abspath(image.path)]
        decisions.append(
            CurationDecision(
                image,
                analysis,
                reason='' if analysis.readable else UNREADABLE))
    title = (f'Statistics of {", ".join(inputs)}: {len(images)} images, '
             'no filtering')
    return write_statistics(out_abs, decisions, title)
