"""Side-by-side speed benchmark of InfMAE against MAE ViT-B (``make bench``).

    python tools/analysis_tools/benchmark_speed.py [--batch 8] [--repeats 5]
        [--out work_dirs/bench/benchmark.json] [--quick]

Measured in one run on this machine's CPU (and its GPU when one is present):

* the pre-training step (forward, backward, AdamW) in images/s and peak
  memory: InfMAE-B (fast path) vs mmpretrain's MAE ViT-B
  (``mae_vit-base-p16``) and vs InfMAE-B's dense reference formulation, at
  224x224 and 448x448, same batch;
* the IAM masking's share of the step time (the pipeline transform per image
  and the in-model official scorer per batch);
* backbone inference (batch 1) at 512x512 and 1024x768 vs mmseg's MAE ViT-B
  backbone, with the FLOPs ratio of the pair;
* full UperNet (MSRS config, 480x640) and Mask R-CNN (M3FD config, 1024x768)
  inference, timed like mmseg's / mmdet's ``benchmark.py`` (warm-up, then
  ``mode='predict'`` calls; mmdet's tool itself needs CUDA);
* model-FLOPs utilisation against the fp32 matmul peak measured in the run.

Every timing is the median of ``--repeats`` runs after warm-up, each case in
a fresh subprocess so that its peak memory is its own. The table is printed
and the results are written as JSON (atomically).
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECIPE = osp.join(REPO, 'configs/pretrain/'
                  'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py')
OFFICIAL = osp.join(REPO, 'configs/pretrain/'
                    'infmae_vit-base-p16-officialiam_4xb64-amp-coslr-400e_'
                    'inf30.py')
UPERNET = osp.join(REPO, 'configs/seg/'
                   'upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
MASK_RCNN = osp.join(REPO, 'configs/det/'
                     'mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py')
MAE = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'


# ----------------------------------------------------------------- workers
def _device():
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def _sync():
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Callable, warmup: int, repeats: int) -> List[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - start)
    return times


def _peak_memory_mb() -> float:
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pretrain_model(kind: str, size: int):
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    import infmae_mm  # noqa: F401
    from mmpretrain.registry import MODELS
    if kind == 'mae':
        cfg = get_config(MAE)
        # MAEViT and its decoder are built for one size (InfMAE is not).
        cfg.model.backbone.img_size = size
        cfg.model.neck.num_patches = (size // 16)**2
    else:
        cfg = Config.fromfile(OFFICIAL)
        cfg.model.backbone.masked_conv = 'dense' if kind == 'dense' else \
            'visible'
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(_device())


def work_train_step(kind: str, size: int, batch: int, repeats: int) -> dict:
    import torch
    from mmpretrain.structures import DataSample
    from torch.utils.flop_counter import FlopCounterMode
    model = _pretrain_model(kind, size)
    device = _device()
    inputs = torch.randn(batch, 3, size, size, device=device)
    samples = [DataSample() for _ in range(batch)]
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss = model.loss(inputs, samples)['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()

    times = _timed(step, warmup=2, repeats=repeats)
    with FlopCounterMode(display=False) as counter:
        model.loss(inputs, samples)['loss'].backward()
    median = statistics.median(times)
    return dict(
        seconds=median,
        times=times,
        images_per_s=batch / median,
        peak_memory_mb=_peak_memory_mb(),
        flops=counter.get_total_flops())


def work_iam_share(batch: int, repeats: int) -> dict:
    import numpy as np
    import torch
    import infmae_mm  # noqa: F401
    from infmae_mm.datasets import IAMMaskGenerator
    from infmae_mm.models import IAMMasking
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
              for _ in range(batch)]
    transform = IAMMaskGenerator()
    # Timed as it runs: in dataloader workers, which PyTorch keeps
    # single-threaded (a transform in the main process with num_workers=0
    # competes with the training threads instead).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pipeline = _timed(lambda: [transform(dict(img=i)) for i in images], 2,
                      repeats)
    torch.set_num_threads(threads)
    linear = IAMMasking(scorer='linear').to(_device())
    x = torch.randn(batch, 3, 224, 224, device=_device())
    in_model = _timed(lambda: linear(x), 2, repeats)
    return dict(
        pipeline_seconds_per_batch=statistics.median(pipeline),
        in_model_seconds_per_batch=statistics.median(in_model))


def _backbone(kind: str, size):
    import torch
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    import infmae_mm  # noqa: F401
    from mmseg.registry import MODELS
    if kind == 'infmae':
        cfg = dict(type='InfMAEViT', arch='base', img_size=size,
                   learnable_pos_embed=True)
    else:
        cfg = dict(type='MAE', img_size=size, patch_size=16, embed_dims=768,
                   num_layers=12, num_heads=12, mlp_ratio=4,
                   out_indices=(3, 5, 7, 11))
    model = MODELS.build(cfg).to(_device())
    model.eval()  # mmseg's BEiT.train() returns None: no chaining
    return model, torch.randn(1, 3, *size, device=_device())


def work_backbone(kind: str, height: int, width: int, repeats: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    model, x = _backbone(kind, (height, width))
    with torch.no_grad():
        times = _timed(lambda: model(x), 2, repeats)
        with FlopCounterMode(display=False) as counter:
            model(x)
    return dict(seconds=statistics.median(times), times=times,
                flops=counter.get_total_flops(),
                peak_memory_mb=_peak_memory_mb())


def work_detector(which: str, repeats: int) -> dict:
    import torch
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    path, scope, size = dict(
        upernet=(UPERNET, 'mmseg', (480, 640)),
        mask_rcnn=(MASK_RCNN, 'mmdet', (768, 1024)))[which]
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    init_default_scope(scope)
    if scope == 'mmseg':
        from mmseg.registry import MODELS
        from mmseg.structures import SegDataSample as Sample
    else:
        from mmdet.registry import MODELS
        from mmdet.structures import DetDataSample as Sample
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).to(
        _device()).eval()
    meta = dict(ori_shape=size, img_shape=size, pad_shape=size,
                batch_input_shape=size, scale_factor=(1., 1.))
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 256, (3, *size), dtype=torch.uint8)],
             data_samples=[Sample(metainfo=meta)]))
    with torch.no_grad():
        times = _timed(
            lambda: model(data['inputs'], data['data_samples'],
                          mode='predict'), 2, repeats)
    return dict(seconds=statistics.median(times), times=times,
                peak_memory_mb=_peak_memory_mb())


def work_matmul_peak(repeats: int) -> dict:
    import torch
    n = 2048
    a = torch.randn(n, n, device=_device())
    b = torch.randn(n, n, device=_device())
    times = _timed(lambda: a @ b, 2, max(repeats, 5))
    return dict(flops_per_s=2 * n**3 / statistics.median(times))


WORKERS = dict(
    train_step=work_train_step,
    iam_share=work_iam_share,
    backbone=work_backbone,
    detector=work_detector,
    matmul_peak=work_matmul_peak)


# ------------------------------------------------------------------ driver
def run_case(name: str, threads: int, **kwargs) -> dict:
    """Run one worker in a fresh interpreter and return its JSON result."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONWARNINGS='ignore')
    cmd = [sys.executable, __file__, '--worker', name,
           '--worker-args', json.dumps(kwargs), '--threads', str(threads)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                          text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
    if proc.returncode or not lines:
        raise RuntimeError(f'benchmark case {name} {kwargs} failed:\n'
                           f'{proc.stderr[-3000:]}')
    return json.loads(lines[-1][len('RESULT '):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--out', default='work_dirs/bench/benchmark.json')
    parser.add_argument('--quick', action='store_true',
                        help='224x224 steps and 512x512 backbones only')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--worker-args', help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    if args.worker:
        result = WORKERS[args.worker](**json.loads(args.worker_args))
        print('RESULT ' + json.dumps(result))
        return

    b, r, t = args.batch, args.repeats, args.threads
    sizes = [224] if args.quick else [224, 448]
    results: Dict[str, dict] = dict(
        machine=dict(
            processor=platform.processor() or platform.machine(),
            cpu_threads=t,
            device=torch.cuda.get_device_name(0)
            if torch.cuda.is_available() else 'cpu',
            torch=torch.__version__,
            batch=b,
            repeats=r))
    results['matmul_peak'] = run_case('matmul_peak', t, repeats=r)
    peak = results['matmul_peak']['flops_per_s']
    for size in sizes:
        for kind in ('infmae', 'mae', 'dense'):
            key = f'train_step/{kind}/{size}'
            print(f'... {key}', flush=True)
            results[key] = run_case('train_step', t, kind=kind, size=size,
                                    batch=b, repeats=r if size == 224 else
                                    max(2, r // 2))
    results['iam_share'] = run_case('iam_share', t, batch=b, repeats=r)
    bb_sizes = [(512, 512)] if args.quick else [(512, 512), (768, 1024)]
    for h, w in bb_sizes:
        for kind in ('infmae', 'mae'):
            key = f'backbone/{kind}/{h}x{w}'
            print(f'... {key}', flush=True)
            results[key] = run_case('backbone', t, kind=kind, height=h,
                                    width=w, repeats=r)
    if not args.quick:
        for which in ('upernet', 'mask_rcnn'):
            print(f'... detector/{which}', flush=True)
            results[f'inference/{which}'] = run_case(
                'detector', t, which=which, repeats=max(2, r // 2))

    table = format_table(results, sizes, bb_sizes, peak)
    print(table)
    results['table'] = table
    from infmae_mm.utils.io import atomic_write_text
    atomic_write_text(args.out, json.dumps(results, indent=2))
    print(f'Wrote {args.out}')


def format_table(results: dict, sizes, bb_sizes, peak: float) -> str:
    m = results['machine']
    rows = [f'Machine: {m["processor"]}, {m["cpu_threads"]} threads, '
            f'device {m["device"]}, torch {m["torch"]}; batch {m["batch"]}, '
            f'median of {m["repeats"]}; fp32 matmul peak '
            f'{peak / 1e9:.0f} GFLOP/s', '',
            '| pre-training step | size | s/step | images/s | peak MB | '
            'GFLOP/step | MFU | vs MAE ViT-B | vs dense |',
            '|---|---|---|---|---|---|---|---|---|']
    for size in sizes:
        mae = results[f'train_step/mae/{size}']['seconds']
        dense = results[f'train_step/dense/{size}']['seconds']
        for kind, label in (('infmae', 'InfMAE-B (fast path)'),
                            ('mae', 'MAE ViT-B (mmpretrain)'),
                            ('dense', 'InfMAE-B (dense reference)')):
            r = results[f'train_step/{kind}/{size}']
            mfu = r['flops'] / r['seconds'] / peak
            rows.append(
                f'| {label} | {size} | {r["seconds"]:.2f} | '
                f'{r["images_per_s"]:.2f} | {r["peak_memory_mb"]:.0f} | '
                f'{r["flops"] / 1e9:.1f} | {mfu:.0%} | '
                f'{r["seconds"] / mae:.2f}x | {r["seconds"] / dense:.2f}x |')
    iam = results['iam_share']
    step = results['train_step/infmae/224']['seconds']
    rows += ['', '| IAM masking, batch per step | seconds | share of the '
             'InfMAE-B 224 step |', '|---|---|---|',
             f'| pipeline transform (intensity, 1 worker thread), summed over '
             f'the batch | '
             f'{iam["pipeline_seconds_per_batch"]:.4f} | '
             f'{iam["pipeline_seconds_per_batch"] / step:.2%} |',
             f'| in-model official linear scorer | '
             f'{iam["in_model_seconds_per_batch"]:.4f} | '
             f'{iam["in_model_seconds_per_batch"] / step:.2%} |']
    rows += ['', '| backbone inference, batch 1 | size | s | GFLOP | '
             'time ratio | FLOPs ratio |', '|---|---|---|---|---|---|']
    for h, w in bb_sizes:
        ours = results[f'backbone/infmae/{h}x{w}']
        mae = results[f'backbone/mae/{h}x{w}']
        for label, r in (('InfMAE-B', ours), ('mmseg MAE ViT-B', mae)):
            rows.append(
                f'| {label} | {h}x{w} | {r["seconds"]:.3f} | '
                f'{r["flops"] / 1e9:.0f} | {r["seconds"] / mae["seconds"]:.2f}'
                f' | {r["flops"] / mae["flops"]:.2f} |')
    if 'inference/upernet' in results:
        rows += ['', '| full model inference (predict), batch 1 | size | s | '
                 'images/s | peak MB |', '|---|---|---|---|---|']
        for key, label, size in (('upernet', 'UperNet + InfMAE-B',
                                  '480x640'),
                                 ('mask_rcnn', 'Mask R-CNN + InfMAE-B',
                                  '768x1024')):
            r = results[f'inference/{key}']
            rows.append(f'| {label} | {size} | {r["seconds"]:.2f} | '
                        f'{1 / r["seconds"]:.2f} | '
                        f'{r["peak_memory_mb"]:.0f} |')
    return '\n'.join(rows)


if __name__ == '__main__':
    main()
