"""Parameters, FLOPs and step time of pre-training configs, side by side.

    python tools/analysis_tools/pretrain_cost.py CONFIG [CONFIG ...] \
        [--batch 4] [--size 224] [--repeats 3] [--threads 2]

For each config: the trained parameters (and the frozen ones, e.g. UNIP's
teacher), the FLOPs of one training step per image (forward and backward,
``torch.utils.flop_counter``: 2 per multiply-add, attention included; a
frozen teacher counts its forward only) and the median time of a training
step (forward, backward, AdamW through mmengine's OptimWrapper, fp32) on
random images, after one warm-up step, as wall time and as the process's CPU
time (all threads; steadier than wall time on a shared machine). Models are
built with random weights: UNIP's teacher checkpoint is not read (its cost
does not depend on it).
Configs that need masks from the data pipeline are not supported; use
in-model masking (e.g. InfMAE's ``officialiam`` config).
"""
import argparse
import os.path as osp
import statistics
import time
import warnings

import torch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'configs', nargs='+', help='config files or mmpretrain::... names')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args()


def build(config: str):
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope

    import infmae_mm  # noqa: F401
    cfg = get_config(config) if '::' in config else Config.fromfile(config)
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    if cfg.model.get('teacher') is not None:
        cfg.model.teacher.checkpoint = None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def measure(config: str, batch: int, size: int, repeats: int) -> dict:
    from mmengine.optim import OptimWrapper
    from mmpretrain.structures import DataSample
    from torch.utils.flop_counter import FlopCounterMode
    model = build(config)
    model.train()
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    teacher = getattr(model, 'teacher', None)
    if teacher is not None:
        frozen += sum(p.numel() for p in teacher.parameters())
    wrapper = OptimWrapper(
        torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                          lr=1e-4))
    x = torch.randn(batch, 3, size, size)
    samples = [DataSample() for _ in range(batch)]

    def step():
        wrapper.update_params(model.loss(x, samples)['loss'])

    step()  # warm-up
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    with FlopCounterMode(display=False) as counter:
        model.loss(x[:1], samples[:1])['loss'].backward()
    wrapper.zero_grad()
    return dict(
        config=osp.basename(config),
        trained=trained,
        frozen=frozen,
        gflops=counter.get_total_flops() / 1e9,
        seconds=statistics.median(times),
        cpu_seconds=statistics.median(cpu_times))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = [
        measure(c, args.batch, args.size, args.repeats) for c in args.configs
    ]
    print(f'CPU, {args.threads} threads, fp32, batch {args.batch} at '
          f'{args.size}px, median of {args.repeats} steps')
    print('| config | trained params (M) | frozen params (M) | '
          'GFLOPs / image / step | s / step (wall) | CPU s / step |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["config"]} | {r["trained"] / 1e6:.1f} | '
              f'{r["frozen"] / 1e6:.1f} | {r["gflops"]:.1f} | '
              f'{r["seconds"]:.2f} | {r["cpu_seconds"]:.2f} |')


if __name__ == '__main__':
    main()
