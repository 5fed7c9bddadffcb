"""The append-only journal of analyses that lets a killed run resume."""
from __future__ import annotations
import json
import os
import time
from typing import Dict, Optional

from ..utils.io import atomic_write_text
from .measures import ImageAnalysis

__all__ = ['AnalysisJournal']

#: What makes journalled analyses comparable: change it whenever
#: :func:`~infmae_mm.curation.measures.analyse_image` computes something
#: else.
_JOURNAL_HEADER = {
    'journal': 'infmae_mm.curation',
    'version': 2,
    'gray': 'bt601; >8 bit and R-JPEG celsius: p0.5-p99.5 to 0-255',
    'hash': 'dct-32x32-8x8-ac-median; windows 64px grid 0.8 + central',
    'thumbnail': '48x48 area',
}


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
        crop_borders (bool): Whether analyses crop borders (part of the
            header: a journal written with the other setting is discarded).
    """

    def __init__(self,
                 path: str,
                 resume: bool,
                 crop_borders: bool = False) -> None:
        self.path = path
        self.records: Dict[str, ImageAnalysis] = {}
        self.skipped_lines = 0
        self.discarded = False
        header = json.dumps(
            dict(_JOURNAL_HEADER, crop_borders=bool(crop_borders)),
            sort_keys=True)
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
