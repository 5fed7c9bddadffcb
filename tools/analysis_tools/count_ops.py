"""Top-level aten operators of one pre-training step: InfMAE-B against
mmpretrain's MAE ViT-B.

    python tools/analysis_tools/count_ops.py [--batch 2] [--size 224]
        [--kinds infmae,infmae_inmodel,mae] [--top 15]
        [--out docs/benchmarks/op-count-224-batch2.json]

At the batch sizes users pre-train at on a GPU, an eager step is bound by how
many operators it dispatches (each one at least one kernel launch and some
Python), not by FLOPs. This counts them without a GPU: one step's forward and
backward (``model.loss``, ``backward()``; no optimiser update) under
``torch.profiler``, counting the aten operators that no other aten operator
called (``infmae_mm.analysis.count_aten_ops``, whose docstring gives the
method). The models and batches are built as the speed benchmark builds them
(``benchmark_speed.py``'s ``_pretrain_model`` and ``_pretrain_batch``):
InfMAE-B with masks from the Inf30 recipe's pipeline (``infmae``) and with
masks computed in the model (``infmae_inmodel``, the official-IAM config),
mmpretrain's ``mae_vit-base-p16`` (``mae``), random weights, one unprofiled
step first. The count depends on the code, the batch and the input size only
slightly (through shape-dependent paths), not on the machine's speed or load.

Kernels (``--kernels``): InfMAE's model code calls a few operators through
``infmae_mm.models.ops`` (attention, the depthwise weight gradient of the
visible path), which run a CPU kernel on the CPU (explicit attention products
for short sequences, a loop over the depthwise taps) and the reference
(``scaled_dot_product_attention``, ``conv2d_weight``) elsewhere. ``reference``
(default) counts the step as a GPU runs it (no CUDA kernel is registered),
``device`` as this machine runs it, ``both`` gives both rows. MAE ViT-B has
no such operators.

Prints the table (total, forward, backward, ratio to MAE ViT-B; the operator
names whose counts differ most) and writes it with the per-name counts as
JSON (``table`` as the docs' benchmark page renders it).
"""
import argparse
import datetime
import importlib.util
import json
import os.path as osp
import platform
from typing import Any, Counter, Dict, List, Optional
from unittest import mock

HERE = osp.dirname(osp.abspath(__file__))
KINDS = ('infmae', 'infmae_inmodel', 'mae')
#: Target of issue 23 (item 5): InfMAE-B dispatches at most as many as MAE.
TARGET_RATIO = 1.0


def _benchmark() -> Any:
    """``benchmark_speed.py`` (a script, loaded by path): its model and batch
    builders, labels and config paths."""
    spec = importlib.util.spec_from_file_location(
        'benchmark_speed', osp.join(HERE, 'benchmark_speed.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def count_kind(kind: str, size: int, batch: int,
               kernels: str) -> Dict[str, Any]:
    """One kind's step, counted with the device's kernels (``device``) or the
    references only (``reference``)."""
    import torch

    from infmae_mm.analysis import count_train_step_ops
    from infmae_mm.models.ops import dispatch
    bench = _benchmark()
    torch.manual_seed(0)
    model, cfg = bench._pretrain_model(kind, size)
    inputs, samples = bench._pretrain_batch(model, cfg, kind, size, batch)
    # No registered kernel: every operator runs its reference.
    only_references = {} if kernels == 'reference' else dispatch._KERNELS
    with mock.patch.object(dispatch, '_KERNELS', only_references):
        counted = count_train_step_ops(model, inputs, samples)
    label = bench.PRETRAIN_KINDS[kind]
    if kind != 'mae':
        label += f', {kernels} kernels'
    return dict(
        kernels=kernels,
        label=label,
        total=counted['total'],
        forward=counted['forward'],
        backward=counted['backward'],
        loss=float(counted['result']),
        by_name=dict(counted['by_name'].most_common()))


def format_table(results: Dict[str, Dict[str, Any]], top: int) -> str:
    """The Markdown table: counts and ratios to MAE ViT-B, then the operator
    names whose counts differ most between the first InfMAE kind and MAE."""
    mae = results.get('mae')
    lines = [
        '| model | top-level aten ops / step | forward | backward '
        '| vs MAE ViT-B |', '|---|---|---|---|---|'
    ]
    for kind, r in results.items():
        ratio = f'{r["total"] / mae["total"]:.2f}x' if mae else 'n/a'
        lines.append(f'| {r["label"]} | {r["total"]} | {r["forward"]} '
                     f'| {r["backward"]} | {ratio} |')
    ours = next((k for k in results if k != 'mae'), None)
    if mae and ours:
        a: Counter[str] = Counter(results[ours]['by_name'])
        b: Counter[str] = Counter(mae['by_name'])
        names = sorted(
            set(a) | set(b), key=lambda n: (-abs(a[n] - b[n]), n))[:top]
        lines += [
            '', f'| operator | {results[ours]["label"]} | {mae["label"]} '
            '| difference |', '|---|---|---|---|'
        ]
        lines += [
            f'| `{n}` | {a[n]} | {b[n]} | {a[n] - b[n]:+d} |' for n in names
        ]
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument(
        '--kinds',
        default=','.join(KINDS),
        help=f'comma-separated, from {", ".join(KINDS)}')
    parser.add_argument(
        '--top',
        type=int,
        default=15,
        help='operator names listed (largest differences first)')
    parser.add_argument(
        '--kernels',
        choices=('reference', 'device', 'both'),
        default='reference',
        help='InfMAE\'s ops: the references (as a GPU runs them), this '
        'device\'s kernels, or both rows')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--out',
        default=osp.join(
            osp.dirname(osp.dirname(HERE)), 'docs', 'benchmarks',
            'op-count-224-batch2.json'),
        help='JSON written here (atomically)')
    args = parser.parse_args(argv)
    args.kinds = [k for k in args.kinds.split(',') if k]
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        parser.error(f'unknown kinds {sorted(unknown)}; known: {KINDS}')
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    import torch
    from mmengine.logging import MMLogger

    from infmae_mm.utils.io import atomic_write_text
    torch.set_num_threads(args.threads)
    # The current logger: no per-parameter init_weights lines.
    MMLogger.get_instance('count_ops', log_level='WARNING')
    results = {}
    modes = ('reference',
             'device') if args.kernels == 'both' else (args.kernels, )
    for kind in args.kinds:
        for kernels in modes[:1] if kind == 'mae' else modes:
            key = kind if kernels == modes[0] else f'{kind}/{kernels}'
            print(f'... {key}', flush=True)
            results[key] = count_kind(kind, args.size, args.batch, kernels)
    table = format_table(results, args.top)
    print(table)
    device = (
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')
    out = dict(
        what=('Top-level aten operators of one pre-training step (forward '
              f'and backward, batch {args.batch}, {args.size}x{args.size}, '
              'random weights, InfMAE\'s device-specific operators as '
              f'{args.kernels}): tools/analysis_tools/count_ops.py, method '
              'in infmae_mm/analysis/op_count.py. Target (issue 23 item 5): '
              f'InfMAE-B <= {TARGET_RATIO:.1f}x MAE ViT-B.'),
        generated=datetime.date.today().isoformat(),
        machine=f'{platform.machine()}, {device}, torch {torch.__version__}',
        batch=args.batch,
        size=args.size,
        kernels=args.kernels,
        results=results,
        ratio_vs_mae={
            k: r['total'] / results['mae']['total']
            for k, r in results.items() if k != 'mae'
        } if 'mae' in results else {},
        table=table)
    atomic_write_text(args.out, json.dumps(out, indent=2) + '\n')
    print(f'Wrote {args.out}')
    return out


if __name__ == '__main__':
    main()
