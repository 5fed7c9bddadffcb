"""Statistics, the CSV report and the plot of a curated set."""
from __future__ import annotations
import bisect
import csv
import io
import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..utils.io import atomic_write_bytes, atomic_write_text
from .selection import DROP_REASONS, CurationDecision

__all__ = [
    'STATS_TABLE_NAME', 'STATS_JSON_NAME', 'STATS_PLOT_NAME',
    'compute_statistics', 'format_statistics', 'plot_statistics',
    'write_statistics', 'write_report'
]

STATS_TABLE_NAME = 'stats.txt'
STATS_JSON_NAME = 'stats.json'
STATS_PLOT_NAME = 'stats.png'
# Longer-side bins of the resolution histogram: [0, 32), [32, 64), ...
_LONG_SIDE_EDGES = (0, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def _long_side_labels() -> List[str]:
    edges = _LONG_SIDE_EDGES
    labels = [
        f'<{hi}' if lo == 0 else f'{lo}-{hi - 1}'
        for lo, hi in zip(edges, edges[1:])
    ]
    return labels + [f'>={edges[-1]}']


def _long_side_bin(long_side: int) -> str:
    return _long_side_labels()[bisect.bisect_right(_LONG_SIDE_EDGES, long_side)
                               - 1]


def _summary(values: Sequence[float]) -> Optional[Dict[str, float]]:
    if not len(values):
        return None
    arr = np.asarray(values, np.float64)
    return {
        'mean': float(arr.mean()),
        'std': float(arr.std()),
        'min': float(arr.min()),
        'median': float(np.median(arr)),
        'max': float(arr.max())
    }


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
        ``sources`` (per source: ``inputs``, ``kept``, ``share`` of the kept
        images, each drop reason and ``entropy_mean``: the mixture of the
        set).
    """
    kept = [d.analysis for d in decisions if d.kept]
    dropped = {r: sum(d.reason == r for d in decisions) for r in DROP_REASONS}
    sources: Dict[str, dict] = {}
    for d in decisions:
        row = sources.setdefault(
            d.image.source,
            dict(
                inputs=0,
                kept=0,
                **dict.fromkeys(DROP_REASONS, 0),
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
        row['share'] = row['kept'] / len(kept) if kept else 0.0
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
        'bit_depth': {
            k: sum(a.dtype == k for a in kept)
            for k in sorted({a.dtype
                             for a in kept})
        },
        'colour': {
            'gray': sum(a.channels == 1 for a in kept),
            'colour': sum(a.channels > 1 for a in kept)
        },
        'sources': dict(sorted(sources.items())),
    }


def format_statistics(stats: dict) -> str:
    """The statistics as a plain-text table (what the CLI prints)."""
    lines = [stats['title']] if stats.get('title') else []
    reasons = [r for r in DROP_REASONS if stats['dropped'][r]]
    header = ['source', 'inputs', 'kept', 'share', *reasons, 'entropy']
    rows = []
    for name, row in stats['sources'].items():
        ent = row['entropy_mean']
        rows.append([
            name, row['inputs'], row['kept'], f'{100 * row["share"]:.1f}%',
            *[row[r] for r in reasons], '-' if ent is None else f'{ent:.2f}'
        ])
    ent = stats['entropy']
    rows.append([
        'total', stats['num_inputs'], stats['num_images'],
        '100.0%' if stats['num_images'] else '-',
        *[stats['dropped'][r]
          for r in reasons], '-' if ent is None else f'{ent["mean"]:.2f}'
    ])
    widths = [
        max(len(str(r[i])) for r in [header] + rows)
        for i in range(len(header))
    ]

    def fmt(row: Sequence) -> str:
        return '  '.join(
            str(v).ljust(w) if i == 0 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths)))

    lines += ['', fmt(header), fmt(['-' * w for w in widths])]
    lines += [fmt(r) for r in rows[:-1]]
    lines += [fmt(['-' * w for w in widths]), fmt(rows[-1]), '']
    if ent is None:
        lines.append('no images')
        return '\n'.join(lines) + '\n'
    lines.append('information entropy (eq. 1, bits of the 256-level gray '
                 'histogram, per image): ' +
                 '  '.join(f'{k} {ent[k]:.3f}'
                           for k in ('mean', 'std', 'min', 'median', 'max')))
    w, h = stats['width'], stats['height']
    lines.append(f'resolution (W x H): smallest {stats["smallest"][0]}x'
                 f'{stats["smallest"][1]}, largest {stats["largest"][0]}x'
                 f'{stats["largest"][1]}, median {w["median"]:g}x'
                 f'{h["median"]:g}')
    bins = stats['long_side_histogram']
    lines.append('longer side (px): ' +
                 '  '.join(f'{k}: {v}' for k, v in bins.items() if v))
    lines.append('pixel type: ' +
                 '  '.join(f'{k}: {v}'
                           for k, v in stats['bit_depth'].items()) +
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
    ax_ent.set(
        title='Information entropy per image (eq. 1)',
        xlabel='bits',
        ylabel='images')

    # Thin out very large sets: the scatter only shows the spread.
    step = max(1, len(kept) // 20000)
    ax_res.scatter([a.width for a in kept[::step]],
                   [a.height for a in kept[::step]],
                   s=4,
                   alpha=0.4)
    if kept:
        ax_res.set(xscale='log', yscale='log')
    ax_res.set(
        title=f'Resolution of {len(kept)} images',
        xlabel='width (px)',
        ylabel='height (px)')

    bins = stats['long_side_histogram']
    ax_side.bar(range(len(bins)), list(bins.values()), color='tab:green')
    ax_side.set_xticks(range(len(bins)), list(bins), rotation=30, fontsize=8)
    ax_side.set(title='Longer side', xlabel='px', ylabel='images')

    sources = sorted(
        stats['sources'].items(), key=lambda kv: (-kv[1]['inputs'], kv[0]))
    if len(sources) > max_sources:
        rest = sources[max_sources - 1:]
        merged = {
            k: sum(row[k] for _, row in rest)
            for k in ('inputs', 'kept', *DROP_REASONS)
        }
        sources = sources[:max_sources - 1] + [
            (f'other ({len(rest)} sources)', merged)
        ]
    names = [name for name, _ in sources][::-1]
    left = np.zeros(len(names))
    colours = ('tab:blue', 'tab:gray', 'tab:orange', 'tab:red', 'tab:purple')
    for key, color in zip(('kept', *DROP_REASONS), colours):
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


def write_statistics(out_dir: str,
                     decisions: Sequence[CurationDecision],
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
    atomic_write_text(
        os.path.join(out_dir, STATS_TABLE_NAME), format_statistics(stats))
    atomic_write_text(
        os.path.join(out_dir, STATS_JSON_NAME),
        json.dumps(stats, indent=2) + '\n')
    atomic_write_bytes(
        os.path.join(out_dir, STATS_PLOT_NAME),
        plot_statistics(stats, decisions))
    return stats


def write_report(path: str, decisions: Sequence[CurationDecision]) -> None:
    """Write the CSV report: one row per input, kept or why dropped."""
    columns = ('path', 'image_id', 'source', 'decision', 'reason',
               'duplicate_of', 'distance', 'similarity', 'width', 'height',
               'channels', 'dtype', 'border_crop', 'entropy', 'phash',
               'manifest_entry', 'detail')
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(columns)
    for d in decisions:
        a = d.analysis
        writer.writerow([
            d.image.path, d.image.image_id, d.image.source,
            'kept' if d.kept else 'dropped', d.reason, d.duplicate_of or '',
            '' if d.distance is None else d.distance,
            '' if d.similarity is None else f'{d.similarity:.4f}',
            a.width if a.readable else '', a.height if a.readable else '',
            a.channels if a.readable else '', a.dtype,
            '' if a.crop is None else ' '.join(map(str, a.crop)),
            '' if a.entropy is None else f'{a.entropy:.4f}',
            '' if a.phash is None else f'{a.phash:016x}', d.manifest_entry,
            a.error
        ])
    # surrogateescape: undecodable file names still appear in the report.
    atomic_write_bytes(path, buf.getvalue().encode('utf-8', 'surrogateescape'))
