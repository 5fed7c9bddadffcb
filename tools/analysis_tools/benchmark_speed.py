"""Side-by-side speed benchmark of InfMAE against MAE ViT-B and downstream
peers (``make bench``).

    python tools/analysis_tools/benchmark_speed.py [--device auto|cpu|cuda]
        [--amp none|fp16|bf16] [--batch N] [--sizes 224 448] [--repeats 5]
        [--cases pretrain,iam,backbone,inference,peers] [--budget-s S]
        [--case-timeout-s S] [--interleave auto|yes|no]
        [--malloc auto|fixed|default]
        [--out work_dirs/bench/benchmark.json] [--quick]

Measured in one run, on the CPU (default without CUDA: fp32, batch 8) or on
the GPU (default with CUDA: AMP fp16 with a dynamic loss scale as the paper
recipe's ``AmpOptimWrapper``, the paper's per-GPU batch 64, halved until it
fits when memory runs out):

* ``pretrain``: the pre-training step (forward, backward, AdamW through
  mmengine's optimiser wrapper) in images/s and peak memory, at each size:
  InfMAE-B with masks from the data pipeline (the Inf30 recipe:
  ``IAMMaskGenerator`` runs in the dataloader, not timed here) and with masks
  computed in the model (the official-IAM config), mmpretrain's MAE ViT-B
  (``mae_vit-base-p16``) and InfMAE-B's dense reference formulation; FLOPs
  per step counted by ``torch.utils.flop_counter`` (forward and backward,
  attention included) and model-FLOPs utilisation against the peak FLOP/s
  (GPU: the datasheet's dense fp16/bf16 tensor-core peak for the device
  name, ``PEAK_FLOPS``; CPU: the fp32 matmul rate measured in the run), and
  also against the AMP matmul rate measured in the run on the GPU;
* ``iam``: the IAM masking's share of the step (pipeline transform per image,
  in-model scorer per batch);
* ``backbone``: backbone inference (batch 1) at 512x512 and 768x1024 vs
  mmseg's MAE ViT-B backbone;
* ``inference``: full UperNet (MSRS config, 480x640) and Mask R-CNN (M3FD
  config, 768x1024) inference with InfMAE-B, timed like mmseg's / mmdet's
  ``benchmark.py`` (warm-up, then ``mode='predict'`` calls, batch 1, fp32);
* ``peers``: the same for what an infrared user would otherwise train:
  mmseg's UperNet with Swin-T and ResNet-50 and mmdet's Mask R-CNN with
  Swin-T and ResNet-50 (their own configs, same input size and class count).
  For every full model also the parameters and the FLOPs with attention
  counted (multiply-adds, ``infmae_mm.analysis.complexity_with_attention``,
  as ``tools/analysis_tools/get_flops.py``). All models have random weights;
  Mask R-CNN keeps ``max_per_img`` (100) detections for every model
  (``score_thr=0``) so that the mask head does the same work.

Every timing is the median of ``--repeats`` runs after warm-up (the short
``iam`` and matmul-rate timings: ``torch.utils.benchmark``'s
``blocked_autorange``, 0.2 s of calls per repeat), each case in
a fresh subprocess so that its peak memory is its own and a crash (out of
memory, an abort) fails only that case; a failed or skipped case is reported
with its reason. ``--budget-s`` skips the cases that would start after the
budget. The table is printed and the results are written as JSON
(atomically).

Interleaved pre-training steps (``--interleave``, default on the CPU): a
shared machine's speed drifts between cases by several percent, more than a
ratio of medians taken minutes apart can bear. So at each size InfMAE-B (both
mask sources) and MAE ViT-B each get one persistent worker process (built and
warmed up as a fresh case, one after the other, then idle waiting for
commands on stdin, so that each peak memory stays its own), and the driver
runs ``--repeats`` rounds: in each, every worker runs one timed step, one
after the other, round r starting at kind r mod 3 so that no kind always runs
first. Every kind's ``rounds`` are its per-round seconds (``seconds`` their
median), and its ``ratio_vs_mae`` (the table's "vs MAE ViT-B") is the median
over rounds of its time per image over MAE's in the same round: drift slower
than a round cancels. Each wait for a worker (ready, a step, the result) is
limited as a case (``--case-timeout-s``, the budget); a worker that dies,
times out or fails is reported with its reason while the others go on (its
ratios are then missing), and every worker is killed at the end. The dense
reference (slow, 7.7 GB at 448) runs alone afterwards; on CUDA (auto: not
interleaved) every case runs alone as above.

Allocator (``--malloc``, default ``fixed`` on the CPU): with glibc's dynamic
thresholds the heap is trimmed when ``zero_grad`` frees the gradients on top
of it, and the next backward pass faults fresh pages back in (measured at
224: about 67,000 faults per InfMAE-B step, 7,000 per MAE ViT-B step). The
workers run with ``FIXED_MALLOC`` (values already in the environment win), the
setting recommended for CPU training in the README, so that the step times
measure the models and not the kernel's page zeroing; ``--malloc default``
keeps glibc's behaviour. The settings are recorded in the JSON and printed.
"""
import argparse
import collections
import gc
import importlib
import json
import os
import os.path as osp
import platform
import queue
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECIPE = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py')
OFFICIAL = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-base-p16-officialiam_4xb64-amp-coslr-400e_'
    'inf30.py')
UPERNET = osp.join(
    REPO, 'configs/seg/'
    'upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
MASK_RCNN = osp.join(
    REPO, 'configs/det/'
    'mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py')
MAE = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

#: Pre-training rows: kind -> label.
PRETRAIN_KINDS = {
    'infmae': 'InfMAE-B, pipeline masks',
    'infmae_inmodel': 'InfMAE-B, in-model masks',
    'mae': 'MAE ViT-B (mmpretrain)',
    'dense': 'InfMAE-B dense reference',
    'infmae_compiled': 'InfMAE-B, pipeline masks, torch.compile',
    'mae_compiled': 'MAE ViT-B (mmpretrain), torch.compile',
}
#: Kinds whose ``model.loss`` runs through ``torch.compile`` (``--compile``).
COMPILED_SUFFIX = '_compiled'

#: Full-model inference rows: name -> (config, scope, (H, W), label).
FULL_MODELS = {
    'upernet_infmae': (UPERNET, 'mmseg', (480, 640), 'UperNet + InfMAE-B'),
    'upernet_swin_t':
    ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_'
     'ade20k-512x512.py', 'mmseg', (480, 640), 'UperNet + Swin-T (mmseg)'),
    'upernet_r50': ('mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
                    'mmseg', (480, 640), 'UperNet + R-50 (mmseg)'),
    'mask_rcnn_infmae':
    (MASK_RCNN, 'mmdet', (768, 1024), 'Mask R-CNN + InfMAE-B'),
    'mask_rcnn_swin_t': ('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
                         'mmdet', (768, 1024), 'Mask R-CNN + Swin-T (mmdet)'),
    'mask_rcnn_r50': ('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', 'mmdet',
                      (768, 1024), 'Mask R-CNN + R-50 (mmdet)'),
}
OURS = ('upernet_infmae', 'mask_rcnn_infmae')
PEERS = tuple(k for k in FULL_MODELS if k not in OURS)
#: Class counts of the package's MSRS and M3FD configs (peers get the same).
NUM_CLASSES = {'mmseg': 9, 'mmdet': 6}

#: Datasheet dense fp16/bf16 tensor-core peaks (FLOP/s, no sparsity), by a
#: substring of ``torch.cuda.get_device_name()``; first match wins.
PEAK_FLOPS: List[Tuple[str, float]] = [
    ('H200', 989e12),  # H200 SXM: same compute as H100 SXM
    ('H100 NVL', 835e12),
    ('H100 PCIe', 756e12),
    ('H100', 989e12),  # H100 SXM5 (HBM3)
    ('GH200', 989e12),
    ('A100', 312e12),
    ('L40S', 362e12),
    ('L4', 121e12),
    ('A10', 125e12),
    ('V100', 125e12),
]

CASES = ('pretrain', 'iam', 'backbone', 'inference', 'peers')

#: glibc allocator settings of ``--malloc fixed``: a fixed mmap threshold
#: (32 MiB, glibc's largest dynamic value) and no heap trimming. With glibc's
#: defaults the heap is trimmed after every step (the gradients, freed by
#: ``zero_grad``, lie on top of it) and the next backward pass page-faults it
#: back in: about 260 MB of fresh pages per InfMAE-B step at 224, 30 MB for
#: MAE ViT-B. Pinning the thresholds is the CPU-training setting the README
#: recommends (as jemalloc / tcmalloc in PyTorch's CPU tuning guide).
FIXED_MALLOC = {
    'MALLOC_MMAP_THRESHOLD_': str(32 * 2**20),
    'MALLOC_TRIM_THRESHOLD_': str(4 * 2**30),
}


def datasheet_peak(device_name: str) -> Optional[float]:
    """The dense fp16/bf16 peak FLOP/s assumed for a GPU, or None."""
    for key, peak in PEAK_FLOPS:
        if key.lower() in device_name.lower():
            return peak
    return None


# ----------------------------------------------------------------- workers
def _device():
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def _sync():
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Callable, warmup: int, repeats: int) -> List[float]:
    """Seconds of each of ``repeats`` calls after ``warmup`` calls.

    Not torch.utils.benchmark: these are a few expensive calls whose every
    time is recorded, with exact warm-up counts (an interleaved worker times
    exactly one step per round), and its ``Timer.timeit`` adds at least two
    warm-up calls per measurement and reports only their mean.
    """
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


def _median_seconds(fn: Callable,
                    repeats: int,
                    num_threads: Optional[int] = None) -> float:
    """Median seconds of a short ``fn()`` by ``torch.utils.benchmark``.

    Warm-up, CUDA synchronisation and blocks of calls for 0.2 s per repeat,
    on ``num_threads`` threads (default: the process's).
    """
    import torch
    from torch.utils.benchmark import Timer
    timer = Timer(
        'fn()',
        globals=dict(fn=fn),
        num_threads=num_threads or torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=0.2 * max(repeats, 1)).median


def _warmup() -> int:
    return 3 if _device() == 'cuda' else 2


def _peak_memory_mb() -> float:
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _amp_dtype(amp: Optional[str]):
    import torch
    return {
        None: None,
        'none': None,
        'fp16': torch.float16,
        'bf16': torch.bfloat16
    }[amp]


def _pretrain_model(kind: str, size: int):
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS

    import infmae_mm  # noqa: F401
    if kind == 'mae':
        cfg = get_config(MAE)
        # MAEViT and its decoder are built for one size (InfMAE is not).
        cfg.model.backbone.img_size = size
        cfg.model.neck.num_patches = (size // 16)**2
    elif kind == 'infmae':
        cfg = Config.fromfile(RECIPE)
    else:
        cfg = Config.fromfile(OFFICIAL)
        cfg.model.backbone.masked_conv = 'dense' if kind == 'dense' else \
            'visible'
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(_device()), cfg


def _pretrain_batch(model, cfg, kind: str, size: int, batch: int):
    """A training batch as the model's data path delivers it.

    ``infmae``: images through the recipe's pipeline after loading (crop,
    flip, ``IAMMaskGenerator``, packing) and the data preprocessor, so the
    samples carry the pipeline's masks; other kinds: random inputs and empty
    samples (their masks are made in the model).
    """
    import torch
    from mmpretrain.structures import DataSample
    if kind != 'infmae':
        inputs = torch.randn(batch, 3, size, size, device=_device())
        return inputs, [DataSample() for _ in range(batch)]
    from infmae_mm.testing import pipeline_batch
    return pipeline_batch(model, cfg, size, batch)


def _optim_wrapper(model, amp: Optional[str]):
    """AdamW in mmengine's wrapper: AmpOptimWrapper (dynamic loss scale) when
    ``amp`` names a dtype, as the recipe."""
    import torch
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = _amp_dtype(amp)
    if dtype is None:
        return OptimWrapper(optimizer=optimizer)
    if _device() == 'cpu':
        raise RuntimeError('AMP on the CPU is not benchmarked (mmengine\'s '
                           'AmpOptimWrapper refuses CPUs)')
    return AmpOptimWrapper(
        optimizer=optimizer, loss_scale='dynamic', dtype=dtype)


def peak_tensor_mb(run: Callable, live: List) -> float:
    """Peak MB of live CPU tensors while ``run()`` runs: the storages of
    ``live`` (the tensors alive before it) plus the highest running sum of its
    allocations minus frees, from the profiler's memory records."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    storages = {
        t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
        for t in live
    }
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        run()
    records = sorted(
        (r.start_us(), r.nbytes()) for r in p.profiler.kineto_results.events()
        if r.name() == '[memory]' and r.device_type() == DeviceType.CPU)
    current = highest = 0
    for _, nbytes in records:
        current += nbytes
        highest = max(highest, current)
    return (sum(storages.values()) + highest) / 2**20


class TrainStep:
    """One kind's pre-training step, built as the benchmark times it: the model
    (``_pretrain_model``), AdamW in mmengine's wrapper (``_optim_wrapper``) and
    a batch (``_pretrain_batch``); calling it runs one step (forward, backward,
    update).

    The one implementation behind both modes (``work_train_step``, a fresh
    process per case, and ``work_train_step_server``, the interleaved
    worker). ``--step-builder MODULE:NAME`` swaps in another class with the
    same interface (``batch``, ``tried``, ``fit``, ``__call__``,
    ``tensor_memory``, ``flops``; constructor ``(kind, size, batch,
    amp)``): the tests' fake kinds.
    """

    def __init__(self, kind: str, size: int, batch: int, amp: Optional[str]):
        import torch
        compiled = kind.endswith(COMPILED_SUFFIX)
        kind = kind[:-len(COMPILED_SUFFIX)] if compiled else kind
        self.kind, self.size = kind, size
        self.model, self.cfg = _pretrain_model(kind, size)
        # As mmengine's ``compile=True`` does; the warm-up steps compile.
        self.loss = torch.compile(self.model.loss) if compiled \
            else self.model.loss
        self.wrapper = _optim_wrapper(self.model, amp)
        self.tried: List[int] = []
        self._make_batch(batch)

    def _make_batch(self, batch: int) -> None:
        self.tried.append(batch)
        self.batch = batch
        self.inputs, self.samples = _pretrain_batch(self.model, self.cfg,
                                                    self.kind, self.size,
                                                    batch)

    def __call__(self) -> None:
        with self.wrapper.optim_context(self.model):
            loss = self.loss(self.inputs, self.samples)['loss']
        self.wrapper.update_params(loss)

    def fit(self, run: Callable):
        """``run()``'s result; when it runs out of GPU memory, the batch is
        halved and ``run`` tried again (down to a batch of 1)."""
        import torch
        while True:
            try:
                return run()
            except torch.cuda.OutOfMemoryError:
                if self.batch == 1:
                    raise
            # Out of memory: free (outside the handler, whose traceback
            # holds the step's tensors) and halve the batch.
            self.wrapper.zero_grad()
            self.inputs = self.samples = None
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self._make_batch(self.batch // 2)

    def tensor_memory(self) -> Optional[float]:
        """Peak MB of live tensors over one more step, on the CPU.

        ``ru_maxrss`` (the process peak) also counts what the C allocator
        keeps after frees (heap fragmentation, untrimmed pages); it moves by
        tens of MB between runs of the same step. This counts the tensors
        alive at the step's start (parameters, buffers, optimiser states,
        the batch) plus the highest sum of the step's allocations minus
        frees, read from the profiler's memory records: deterministic for a
        given step. None on CUDA (``torch.cuda.max_memory_allocated`` is
        that measure there).
        """
        import torch
        if _device() != 'cpu':
            return None
        live = list(self.model.parameters()) + list(self.model.buffers())
        for state in self.wrapper.optimizer.state.values():
            live += [v for v in state.values() if torch.is_tensor(v)]
        return peak_tensor_mb(self, live + [self.inputs])

    def flops(self) -> int:
        """FLOPs of one step's forward and backward (attention included)."""
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as counter:
            with self.wrapper.optim_context(self.model):
                loss = self.model.loss(self.inputs, self.samples)['loss']
            loss.backward()
        return counter.get_total_flops()


def _step_builder(spec: Optional[str]) -> Callable:
    """``TrainStep``, or the class ``MODULE:NAME`` names (importable from the
    repository root)."""
    if not spec:
        return TrainStep
    module, _, name = spec.partition(':')
    if sys.path[:1] != [REPO]:
        sys.path.insert(0, REPO)  # before site-packages (a stray `tests`)
    return getattr(importlib.import_module(module), name)


def _train_step_result(step, times: List[float], amp: Optional[str]) -> dict:
    peak = _peak_memory_mb()  # before the FLOP-counting pass
    tensor_memory = step.tensor_memory()
    flops = step.flops()
    median = statistics.median(times)
    return dict(
        seconds=median,
        times=times,
        batch=step.batch,
        batches_tried=step.tried,
        amp=amp or 'none',
        images_per_s=step.batch / median,
        peak_memory_mb=peak,
        peak_tensor_mb=tensor_memory,
        flops=flops)


def work_train_step(kind: str,
                    size: int,
                    batch: int,
                    repeats: int,
                    amp: Optional[str] = None,
                    builder: Optional[str] = None) -> dict:
    step = _step_builder(builder)(kind, size, batch, amp)
    times = step.fit(lambda: _timed(step, warmup=_warmup(), repeats=repeats))
    return _train_step_result(step, times, amp)


def _reply(tag: str, payload: dict) -> None:
    # A leading newline ends whatever partial line a library left on stdout.
    print(f'\n{tag} {json.dumps(payload)}', flush=True)


def work_train_step_server(kind: str,
                           size: int,
                           batch: int,
                           amp: Optional[str] = None,
                           builder: Optional[str] = None) -> dict:
    """The interleaved mode's persistent worker (``Runner.interleave``).

    Builds the step and runs the warm-up as ``work_train_step``, replies
    ``READY {...}``, then serves commands read from stdin, one a line:
    ``step`` runs one timed step and replies ``STEP {"seconds": s}``;
    ``finish`` returns the result (printed as ``RESULT {...}`` by ``main``,
    as every worker's). Other stdout lines (mmengine's logging) are not
    replies; stdin closing (the parent gone) ends the process.
    """
    step = _step_builder(builder)(kind, size, batch, amp)
    step.fit(lambda: _timed(step, warmup=_warmup(), repeats=0))
    _reply('READY', dict(batch=step.batch, batches_tried=step.tried))
    times: List[float] = []
    while True:
        command = sys.stdin.readline()
        if not command:
            raise SystemExit('stdin closed before "finish"')
        command = command.strip()
        if command == 'step':
            times += _timed(step, warmup=0, repeats=1)
            _reply('STEP', dict(seconds=times[-1]))
        elif command == 'finish':
            return _train_step_result(step, times, amp)
        elif command:
            raise SystemExit(f'unknown command {command!r}')


def work_iam_share(batch: int, repeats: int) -> dict:
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS, TRANSFORMS

    import infmae_mm  # noqa: F401
    init_default_scope('mmpretrain')
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
        for _ in range(batch)
    ]
    pipeline_cfg = Config.fromfile(RECIPE).train_dataloader.dataset.pipeline
    transform = TRANSFORMS.build(
        next(t for t in pipeline_cfg if t['type'] == 'IAMMaskGenerator'))
    # Timed as it runs: in dataloader workers, which PyTorch keeps
    # single-threaded (a transform in the main process with num_workers=0
    # competes with the training threads instead).
    pipeline = _median_seconds(
        lambda: [transform(dict(img=i)) for i in images],
        repeats,
        num_threads=1)
    model = MODELS.build(Config.fromfile(OFFICIAL).model).to(_device())
    x = torch.randn(batch, 3, 224, 224, device=_device())
    in_model = _median_seconds(lambda: model.mask_generator(x), repeats)
    return dict(
        pipeline_seconds_per_batch=pipeline,
        in_model_seconds_per_batch=in_model)


def _backbone(kind: str, size):
    import torch
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    from mmseg.registry import MODELS

    import infmae_mm  # noqa: F401
    if kind == 'infmae':
        cfg = dict(
            type='InfMAEViT',
            arch='base',
            img_size=size,
            learnable_pos_embed=True)
    else:
        cfg = dict(
            type='MAE',
            img_size=size,
            patch_size=16,
            embed_dims=768,
            num_layers=12,
            num_heads=12,
            mlp_ratio=4,
            out_indices=(3, 5, 7, 11))
    model = MODELS.build(cfg).to(_device())
    model.eval()  # mmseg's BEiT.train() returns None: no chaining
    return model, torch.randn(1, 3, *size, device=_device())


def work_backbone(kind: str, height: int, width: int, repeats: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    model, x = _backbone(kind, (height, width))
    with torch.no_grad():
        times = _timed(lambda: model(x), _warmup(), repeats)
        peak = _peak_memory_mb()
        with FlopCounterMode(display=False) as counter:
            model(x)
    return dict(
        seconds=statistics.median(times),
        times=times,
        flops=counter.get_total_flops(),
        peak_memory_mb=peak)


def _full_model(name: str):
    """One of FULL_MODELS built for inference at its size, random weights, with
    its preprocessed batch of one image."""
    import torch
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    path, scope, size, _ = FULL_MODELS[name]
    cfg = get_config(path) if '::' in path else Config.fromfile(path)
    init_default_scope(scope)
    import infmae_mm  # noqa: F401
    model_cfg = cfg.model
    model_cfg.pop('pretrained', None)
    model_cfg.backbone.init_cfg = None
    if scope == 'mmseg':
        from mmseg.registry import MODELS
        from mmseg.structures import SegDataSample as Sample
        for head in ('decode_head', 'auxiliary_head'):
            if model_cfg.get(head):
                model_cfg[head].num_classes = NUM_CLASSES[scope]
        model_cfg.test_cfg = dict(mode='whole')
        # ADE20k configs pad every input to their crop size: keep ours.
        model_cfg.data_preprocessor.size = size
    else:
        from mmdet.registry import MODELS
        from mmdet.structures import DetDataSample as Sample
        model_cfg.roi_head.bbox_head.num_classes = NUM_CLASSES[scope]
        model_cfg.roi_head.mask_head.num_classes = NUM_CLASSES[scope]
        model_cfg.test_cfg.rcnn.score_thr = 0.0
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    model.init_weights()
    model = model.to(_device()).eval()
    meta = dict(
        ori_shape=size,
        img_shape=size,
        pad_shape=size,
        batch_input_shape=size,
        scale_factor=(1., 1.))
    gen = torch.Generator().manual_seed(0)
    data = model.data_preprocessor(
        dict(
            inputs=[
                torch.randint(
                    0, 256, (3, *size), dtype=torch.uint8, generator=gen)
            ],
            data_samples=[Sample(metainfo=meta)]))
    return model, data


def work_inference(name: str, repeats: int) -> dict:
    import torch
    model, data = _full_model(name)
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        times = _timed(
            lambda: model(
                data['inputs'], data['data_samples'], mode='predict'),
            _warmup(), repeats)
    return dict(
        seconds=statistics.median(times),
        times=times,
        params=params,
        peak_memory_mb=_peak_memory_mb())


def work_inference_macs(name: str) -> dict:
    """Multiply-adds of one of FULL_MODELS, attention counted (its own
    process: tracing a detector takes more memory than running it)."""
    from functools import partial

    from infmae_mm.analysis import complexity_with_attention
    model, data = _full_model(name)
    if hasattr(model, 'auxiliary_head'):
        model.auxiliary_head = None  # training-only
    model.forward = partial(
        model.forward, data_samples=data['data_samples'], mode='tensor')
    counted = complexity_with_attention(model, data['inputs'])
    return dict(
        macs=counted['flops'], attention_macs=counted['attention_flops'])


def work_matmul_peak(repeats: int, amp: Optional[str] = None) -> dict:
    import torch
    dtype = _amp_dtype(amp) or torch.float32
    n = 8192 if _device() == 'cuda' else 2048
    gen = torch.Generator(device=_device()).manual_seed(0)
    a = torch.randn(n, n, device=_device(), dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=_device(), dtype=dtype, generator=gen)
    return dict(
        flops_per_s=2 * n**3 / _median_seconds(lambda: a @ b, repeats),
        n=n,
        dtype=str(dtype).replace('torch.', ''))


WORKERS = dict(
    train_step=work_train_step,
    train_step_server=work_train_step_server,
    iam_share=work_iam_share,
    backbone=work_backbone,
    inference=work_inference,
    inference_macs=work_inference_macs,
    matmul_peak=work_matmul_peak)


# ------------------------------------------------------------------ driver
class WorkerError(RuntimeError):
    """An interleaved worker died, timed out or failed (the reason)."""


class StepServer:
    """A persistent ``train_step_server`` worker process and its line protocol
    (``work_train_step_server``).

    Not a ``multiprocessing`` or ``concurrent.futures`` pool: each worker
    needs its own environment at exec (threads, glibc's ``MALLOC_*``, which
    the C library reads at start), a hung one must be killed alone, and a
    crashed one reported with its stderr tail; those pools do none of this.
    """

    def __init__(self, cmd: List[str], env: dict):
        # stderr to a file (no pipe to fill and block the worker); stdout
        # drained by a thread into a queue of lines.
        self.stderr = tempfile.TemporaryFile(mode='w+b')
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            errors='replace',
            bufsize=1)
        self.lines: queue.Queue = queue.Queue()
        self.other: collections.deque = collections.deque(maxlen=3)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            for line in self.proc.stdout:
                self.lines.put(line.rstrip('\n'))
        except (OSError, ValueError):  # closed by kill()
            pass
        finally:
            self.lines.put(None)

    def request(self, command: Optional[str], tag: str,
                timeout: float) -> dict:
        """Send ``command`` (None: send nothing), then wait for the reply line
        ``TAG {json}``; raises ``WorkerError``."""
        if command:
            try:
                self.proc.stdin.write(command + '\n')
                self.proc.stdin.flush()
            except OSError:
                pass  # it died: its stdout ends, which says why below
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerError(f'timed out after {timeout:.0f} s waiting '
                                  f'for {tag}')
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise WorkerError(self._exit_reason())
            head, _, payload = line.partition(' ')
            if head == tag:
                try:
                    value = json.loads(payload)
                except ValueError:
                    value = None
                if isinstance(value, dict):
                    return value
            if line.strip():
                self.other.append(line)

    def _exit_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # closed its stdout, still alive
            self.kill()
            code = self.proc.returncode
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - 65536))
        tail = self.stderr.read().decode(errors='replace').strip()
        lines = tail.splitlines() or list(self.other)
        return f'exit {code}: ' + ' | '.join(lines[-3:])[-600:]

    def kill(self) -> None:
        """Kill the process (if still alive) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass


def add_ratios(measured: Dict[str, dict], reference: str = 'mae') -> None:
    """Per-round time ratios of the interleaved kinds against ``reference``.

    Adds to every successful kind but the reference ``ratios_vs_mae`` (per
    round: its time per image over the reference's in the same round) and
    ``ratio_vs_mae`` (their median), or ``ratio_vs_mae_missing`` (why not).
    """
    ref = measured.get(reference)
    for kind, result in measured.items():
        if kind == reference or 'error' in result:
            continue
        if not ref or 'error' in ref:
            result['ratio_vs_mae_missing'] = (
                f'{reference}: ' + (ref['error'] if ref else 'not run'))
            continue
        if len(result['rounds']) != len(ref['rounds']):
            result['ratio_vs_mae_missing'] = (
                f'{len(result["rounds"])} rounds against '
                f'{len(ref["rounds"])} of {reference}')
            continue
        ratios = [(t / result['batch']) / (m / ref['batch'])
                  for t, m in zip(result['rounds'], ref['rounds'])]
        result['ratios_vs_mae'] = ratios
        result['ratio_vs_mae'] = statistics.median(ratios)


class Runner:
    """Runs worker cases in fresh interpreters within a time budget."""

    def __init__(self,
                 threads: int,
                 device: str,
                 budget_s: float,
                 case_timeout_s: float,
                 log: Callable = print,
                 malloc_env: Optional[Dict[str, str]] = None):
        self.threads, self.device = threads, device
        self.malloc_env = dict(malloc_env or {})
        self.deadline = time.monotonic() + budget_s
        self.case_timeout_s = case_timeout_s
        self.log = log

    def _env(self) -> dict:
        env = dict(
            os.environ,
            OMP_NUM_THREADS=str(self.threads),
            PYTHONWARNINGS='ignore')
        env.update(self.malloc_env)
        if self.device == 'cpu':
            env['CUDA_VISIBLE_DEVICES'] = ''
        return env

    def _cmd(self, worker: str, kwargs: dict) -> List[str]:
        return [
            sys.executable, __file__, '--worker', worker, '--worker-args',
            json.dumps(kwargs), '--threads',
            str(self.threads)
        ]

    def _timeout(self) -> float:
        """The wait allowed now: the case timeout, or less up to the budget's
        deadline."""
        return max(0.,
                   min(self.case_timeout_s, self.deadline - time.monotonic()))

    def __call__(self, worker: str, /, **kwargs) -> dict:
        """The worker's JSON result, or ``{'error': reason}``."""
        left = self.deadline - time.monotonic()
        if left < 5:
            return dict(error='skipped: time budget (--budget-s) spent')
        try:
            proc = subprocess.run(
                self._cmd(worker, kwargs),
                cwd=REPO,
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=min(left, self.case_timeout_s))
        except subprocess.TimeoutExpired:
            return dict(error=f'timed out after '
                        f'{min(left, self.case_timeout_s):.0f} s')
        lines = [
            line for line in proc.stdout.splitlines()
            if line.startswith('RESULT ')
        ]
        if proc.returncode or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            return dict(error=f'exit {proc.returncode}: ' +
                        ' | '.join(tail[-3:])[-600:])
        return json.loads(lines[-1][len('RESULT '):])

    def interleave(self, kinds, repeats: int,
                   **kwargs) -> Tuple[Dict[str, dict], dict]:
        """The pre-training step of ``kinds``, interleaved.

        One persistent ``train_step_server`` per kind (started one after the
        other, each building and warming up alone), then ``repeats`` rounds:
        in round r every live worker runs one step, one after the other,
        starting at kind r mod len(kinds), while the others wait idle. Every
        wait (ready, step, finish) is limited as a case (``--case-timeout-s``,
        the budget's deadline); a worker that dies, times out or fails gives
        ``{'error': reason}`` and the others go on. A round that would not
        leave time for the results (3 times the longest round so far) is not
        started. Returns kind -> result (``interleaved``, ``rounds``; ratios
        by ``add_ratios``) and a record of the rounds' order.
        """
        kinds = list(kinds)
        measured: Dict[str, dict] = {}
        servers: Dict[str, StepServer] = {}
        info = dict(kinds=kinds, order=[], cut=None)

        def fail(kind: str, reason: str) -> None:
            measured[kind] = dict(error=reason)
            self.log(f'    {kind}: {reason}', flush=True)
            server = servers.pop(kind, None)
            if server is not None:
                server.kill()

        try:
            for kind in kinds:
                if self.deadline - time.monotonic() < 5:
                    fail(kind, 'skipped: time budget (--budget-s) spent')
                    continue
                self.log(f'    starting {kind}', flush=True)
                servers[kind] = StepServer(
                    self._cmd('train_step_server', dict(kind=kind, **kwargs)),
                    self._env())
                try:
                    servers[kind].request(None, 'READY', self._timeout())
                except WorkerError as exc:
                    fail(kind, str(exc))
            rounds: Dict[str, List[float]] = {k: [] for k in servers}
            longest = 0.
            for r in range(repeats):
                left = self.deadline - time.monotonic()
                if r and left < 3 * longest:
                    info['cut'] = (f'time budget (--budget-s): {r} of '
                                   f'{repeats} rounds')
                    self.log(f'    stopped: {info["cut"]}', flush=True)
                    break
                order = [
                    kinds[(r + i) % len(kinds)] for i in range(len(kinds))
                ]
                order = [k for k in order if k in servers]
                if not order:
                    break
                info['order'].append(order)
                start = time.monotonic()
                for kind in order:
                    try:
                        reply = servers[kind].request('step', 'STEP',
                                                      self._timeout())
                        rounds[kind].append(float(reply['seconds']))
                    except (WorkerError, KeyError, TypeError,
                            ValueError) as exc:
                        fail(kind, str(exc))
                longest = max(longest, time.monotonic() - start)
                self.log(
                    f'    round {r + 1}: ' +
                    ', '.join(f'{k} {rounds[k][-1]:.3f} s'
                              for k in order if k in servers),
                    flush=True)
            for kind in list(servers):
                try:
                    result = servers[kind].request('finish', 'RESULT',
                                                   self._timeout())
                except WorkerError as exc:
                    fail(kind, str(exc))
                    continue
                result.update(interleaved=True, rounds=rounds[kind])
                measured[kind] = result
        finally:
            for server in servers.values():
                server.kill()
        measured = {k: measured[k] for k in kinds}
        add_ratios(measured)
        for kind, result in measured.items():
            if 'ratio_vs_mae_missing' in result:
                self.log(
                    f'    {kind}: no ratio vs MAE '
                    f'({result["ratio_vs_mae_missing"]})',
                    flush=True)
        return measured, info


#: The pre-training kinds interleaved (``--interleave``); the dense
#: reference (slow, 7.7 GB at 448) runs alone after them.
INTERLEAVED_KINDS = ('infmae', 'infmae_inmodel', 'mae')


def _record(results: dict, key: str, value: dict) -> None:
    results[key] = value
    if 'error' in value:
        print(f'    {value["error"]}', flush=True)


def pretrain_cases(run: Runner,
                   results: dict,
                   sizes: List[int],
                   batch: int,
                   repeats: int,
                   amp: Optional[str],
                   interleave: bool,
                   builder: Optional[str] = None,
                   compile: bool = False) -> None:
    """The ``pretrain`` cases into ``results`` (``train_step/KIND/SIZE``; with
    ``interleave`` also ``interleave/SIZE``, the rounds' order)."""
    for size in sizes:
        kwargs = dict(
            size=size,
            batch=batch,
            amp=amp,
            **(dict(builder=builder) if builder else {}))
        reps = repeats if size == sizes[0] else max(2, repeats // 2)
        alone = [
            k for k in PRETRAIN_KINDS
            if compile or not k.endswith(COMPILED_SUFFIX)
        ]
        if interleave:
            print(
                f'... train_step/{{{",".join(INTERLEAVED_KINDS)}}}/{size}, '
                f'interleaved, {reps} rounds',
                flush=True)
            try:
                measured, info = run.interleave(
                    INTERLEAVED_KINDS, repeats=reps, **kwargs)
            except Exception as exc:  # keep the other cases' measurements
                reason = f'interleaving failed: {type(exc).__name__}: {exc}'
                print(f'    {reason}', flush=True)
                measured = {k: dict(error=reason) for k in INTERLEAVED_KINDS}
                info = dict(kinds=list(INTERLEAVED_KINDS), error=reason)
            for kind, result in measured.items():
                results[f'train_step/{kind}/{size}'] = result
            results[f'interleave/{size}'] = info
            alone = [k for k in alone if k not in INTERLEAVED_KINDS]
        for kind in alone:
            key = f'train_step/{kind}/{size}'
            print(f'... {key}', flush=True)
            _record(results, key,
                    run('train_step', kind=kind, repeats=reps, **kwargs))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', choices=('auto', 'cpu', 'cuda'), default='auto')
    parser.add_argument(
        '--amp',
        choices=('none', 'fp16', 'bf16'),
        default=None,
        help='pre-training step precision (default: fp16 on '
        'the GPU, none on the CPU)')
    parser.add_argument(
        '--batch',
        type=int,
        default=None,
        help='pre-training batch (default: 64 on the GPU, '
        '8 on the CPU)')
    parser.add_argument(
        '--sizes',
        type=int,
        nargs='+',
        default=None,
        help='pre-training sizes (default: 224 448)')
    parser.add_argument(
        '--repeats',
        type=int,
        default=5,
        help='timed runs per case (pre-training steps: at the first size, '
        'max(2, N // 2) at the others; interleaved: rounds)')
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument(
        '--cases',
        default=','.join(CASES),
        help=f'comma-separated subset of {",".join(CASES)}')
    parser.add_argument(
        '--budget-s',
        type=float,
        default=float('inf'),
        help='skip the cases that would start after this '
        'many seconds')
    parser.add_argument(
        '--case-timeout-s',
        type=float,
        default=3600,
        help='limit of one case (interleaved: of each wait for a worker, '
        'to be ready, for a step, for its result)')
    parser.add_argument(
        '--interleave',
        choices=('auto', 'yes', 'no'),
        default='auto',
        help='run the pre-training steps of InfMAE-B (both mask sources) '
        'and MAE ViT-B interleaved: one persistent process per kind, '
        'one step each per round in rotating order, "vs MAE ViT-B" the '
        'median of the per-round ratios, so that the machine\'s drift '
        'cancels in the ratio; no: each case in a fresh process, one '
        'after the other (auto: yes on the CPU, no on CUDA)')
    parser.add_argument(
        '--malloc',
        choices=('auto', 'fixed', 'default'),
        default='auto',
        help='glibc allocator settings of the workers: fixed = '
        'MALLOC_MMAP_THRESHOLD_=32 MiB and MALLOC_TRIM_THRESHOLD_=4 GiB '
        '(no heap trimming, so no page faults re-growing the heap every '
        'step; values already in the environment win), default = '
        'glibc\'s dynamic thresholds (auto: fixed on the CPU, default on '
        'CUDA)')
    parser.add_argument(
        '--macs',
        choices=('auto', 'yes', 'no'),
        default='auto',
        help='count the full models\' multiply-adds (auto: '
        'on the CPU only; they do not depend on the device)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='pretrain: also time InfMAE-B and MAE ViT-B with model.loss '
        'under torch.compile (rows "torch.compile"; the warm-up steps '
        'compile), as mmengine\'s compile=True runs them')
    parser.add_argument('--out', default='work_dirs/bench/benchmark.json')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='224x224 steps and 512x512 backbones only')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--worker-args', help=argparse.SUPPRESS)
    # MODULE:NAME of a TrainStep stand-in (tests).
    parser.add_argument('--step-builder', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(',') if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f'unknown --cases {unknown}; choose from {CASES}')
    args.cases = cases
    return args


def resolve(args: argparse.Namespace, cuda: bool) -> dict:
    """Device, precision, batch, sizes and interleaving from the arguments and
    the machine; ``amp_skipped`` says why a requested AMP does not run."""
    device = ('cuda' if cuda else 'cpu') if args.device == 'auto' else \
        args.device
    if device == 'cuda' and not cuda:
        raise SystemExit('--device cuda: no CUDA device here')
    amp = args.amp or ('fp16' if device == 'cuda' else 'none')
    amp_skipped = None
    if device == 'cpu' and amp != 'none':
        # bf16 autocast on the CPU aborts torch 2.1.2 (heap corruption, for
        # mmpretrain's MAE as well), and mmengine's AmpOptimWrapper refuses
        # CPUs: the CPU benchmark runs fp32.
        amp_skipped = (f'--amp {amp} on the CPU: not run (mmengine\'s '
                       'AmpOptimWrapper refuses CPUs; bf16 autocast aborts '
                       'the process with torch 2.1.2); fp32 instead')
        amp = 'none'
    batch = args.batch or (64 if device == 'cuda' else 8)
    sizes = args.sizes or ([224] if args.quick else [224, 448])
    interleave = args.interleave == 'yes' or (args.interleave == 'auto'
                                              and device == 'cpu')
    fixed = args.malloc == 'fixed' or (args.malloc == 'auto'
                                       and device == 'cpu')
    malloc_env = {
        k: v
        for k, v in os.environ.items() if k.startswith('MALLOC_')
    }
    if fixed:
        malloc_env = {**FIXED_MALLOC, **malloc_env}
    return dict(
        device=device,
        amp=amp,
        amp_skipped=amp_skipped,
        batch=batch,
        sizes=sizes,
        interleave=interleave,
        malloc_env=malloc_env)


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    if args.worker:
        result = WORKERS[args.worker](**json.loads(args.worker_args))
        print('RESULT ' + json.dumps(result))
        return

    setup = resolve(args, torch.cuda.is_available())
    device, amp, b, sizes = (setup['device'], setup['amp'], setup['batch'],
                             setup['sizes'])
    r, t = args.repeats, args.threads
    run = Runner(
        t,
        device,
        args.budget_s,
        args.case_timeout_s,
        malloc_env=setup['malloc_env'])
    name = torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'
    results: Dict[str, dict] = dict(
        machine=dict(
            processor=platform.processor() or platform.machine(),
            cpu_threads=t,
            device=name,
            torch=torch.__version__,
            amp=amp,
            amp_skipped=setup['amp_skipped'],
            batch=b,
            repeats=r,
            interleave=setup['interleave'],
            # glibc's allocator settings change the CPU step (page faults).
            malloc_env=setup['malloc_env'],
            datasheet_peak_flops=datasheet_peak(name) if device ==
            'cuda' else None))
    if setup['amp_skipped']:
        print(setup['amp_skipped'], flush=True)
    results['matmul_peak'] = run(
        'matmul_peak', repeats=r, amp=None if amp == 'none' else amp)

    def case(key: str, worker: str, /, **kwargs):
        print(f'... {key}', flush=True)
        _record(results, key, run(worker, **kwargs))

    if 'pretrain' in args.cases:
        pretrain_cases(
            run,
            results,
            sizes,
            batch=b,
            repeats=r,
            amp=None if amp == 'none' else amp,
            interleave=setup['interleave'],
            builder=args.step_builder,
            compile=args.compile)
    if 'iam' in args.cases:
        case('iam_share', 'iam_share', batch=8, repeats=r)
    bb_sizes = [(512, 512)] if args.quick else [(512, 512), (768, 1024)]
    if 'backbone' in args.cases:
        for h, w in bb_sizes:
            for kind in ('infmae', 'mae'):
                case(
                    f'backbone/{kind}/{h}x{w}',
                    'backbone',
                    kind=kind,
                    height=h,
                    width=w,
                    repeats=r)
    count_macs = args.macs == 'yes' or (args.macs == 'auto'
                                        and device == 'cpu')
    full = (OURS if 'inference' in args.cases else ()) + \
        (PEERS if 'peers' in args.cases else ())
    if not args.quick:
        for key in full:  # the package's models first, then the peers
            case(
                f'inference/{key}',
                'inference',
                name=key,
                repeats=max(2, r // 2) if device == 'cpu' else r)
            if count_macs and 'error' not in results[f'inference/{key}']:
                counted = run('inference_macs', name=key)
                results[f'inference/{key}'].update(
                    counted if 'error' not in counted else dict(
                        macs_error=counted['error']))

    from infmae_mm.utils.io import atomic_write_text
    atomic_write_text(args.out, json.dumps(results, indent=2))
    try:
        table = format_table(results, sizes, bb_sizes)
    except Exception as exc:  # keep the measurements whatever happens
        table = f'(table not formatted: {type(exc).__name__}: {exc})'
    print(table)
    results['table'] = table
    atomic_write_text(args.out, json.dumps(results, indent=2))
    print(f'Wrote {args.out}')


def _ok(results: dict, key: str) -> Optional[dict]:
    value = results.get(key)
    return value if value and 'error' not in value else None


def format_table(results: dict, sizes, bb_sizes) -> str:
    """The Markdown tables of a run (missing or failed cases say why)."""
    m = results['machine']
    matmul = _ok(results, 'matmul_peak')
    measured = matmul['flops_per_s'] if matmul else None
    gpu = m['device'] != 'cpu'
    peak = m.get('datasheet_peak_flops') if gpu else measured
    if gpu:
        peak_note = (f'MFU against the datasheet dense fp16/bf16 peak '
                     f'{peak / 1e12:.0f} TFLOP/s'
                     if peak else 'no datasheet peak known for this device')
        if measured:
            peak_note += (f'; measured {matmul["dtype"]} {matmul["n"]}^3 '
                          f'matmul {measured / 1e12:.0f} TFLOP/s')
    else:
        peak_note = (f'MFU against the fp32 matmul rate measured in the run, '
                     f'{measured / 1e9:.0f} GFLOP/s'
                     if measured else 'matmul peak not measured')
    rows = [
        f'Machine: {m["processor"]}, {m["cpu_threads"]} threads, '
        f'device {m["device"]}, torch {m["torch"]}; precision '
        f'{m["amp"] if m["amp"] != "none" else "fp32"}; batch '
        f'{m["batch"]}, median of {m["repeats"]}; {peak_note}'
    ]
    if m.get('amp_skipped'):
        rows.append(m['amp_skipped'])
    if m.get('malloc_env'):
        rows.append('Allocator settings: ' +
                    ', '.join(f'{k}={v}'
                              for k, v in sorted(m['malloc_env'].items())))
    elif m['device'] == 'cpu':
        rows.append('Allocator: glibc defaults (dynamic mmap and trim '
                    'thresholds)')

    def fail(key):
        value = results.get(key)
        return value['error'] if value else 'not run'

    step_keys = [k for k in results if k.startswith('train_step/')]
    if step_keys:
        rows += [
            '', '| pre-training step | size | batch | s/step | '
            'images/s | peak MB | tensor MB | GFLOP/step | MFU | vs MAE '
            'ViT-B | vs dense |',
            '|---|---|---|---|---|---|---|---|---|---|---|'
        ]
        for size in sizes:
            mae = _ok(results, f'train_step/mae/{size}')
            dense = _ok(results, f'train_step/dense/{size}')
            for kind, label in PRETRAIN_KINDS.items():
                key = f'train_step/{kind}/{size}'
                r = _ok(results, key)
                if r is None and key not in results and kind.endswith(
                        COMPILED_SUFFIX):
                    continue  # not asked for (--compile)
                if r is None:
                    rows.append(f'| {label} | {size} | | {fail(key)} | | | | '
                                f'| | | |')
                    continue
                per_image = r['seconds'] / r['batch']
                rate = r['flops'] / r['seconds']
                mfu = f'{rate / peak:.0%}' if peak else 'n/a'
                if gpu and measured:
                    mfu += f' ({rate / measured:.0%})'
                vs = [
                    f'{per_image / (o["seconds"] / o["batch"]):.2f}x'
                    if o else 'n/a' for o in (mae, dense)
                ]
                tensor_mb = (f'{r["peak_tensor_mb"]:.0f}'
                             if r.get('peak_tensor_mb') else 'n/a')
                if 'ratio_vs_mae' in r:  # interleaved: per-round median
                    vs[0] = f'{r["ratio_vs_mae"]:.2f}x'
                rows.append(f'| {label} | {size} | {r["batch"]} | '
                            f'{r["seconds"]:.3f} | {r["images_per_s"]:.1f} | '
                            f'{r["peak_memory_mb"]:.0f} | {tensor_mb} | '
                            f'{r["flops"] / 1e9:.0f} | '
                            f'{mfu} | {vs[0]} | {vs[1]} |')
        rows.append(
            '(ratios per image; peak MB: the process peak, ru_maxrss on the '
            'CPU (allocator state included), max allocated on the GPU; '
            'tensor MB: the peak of live tensors over one step, CPU only; '
            'GFLOP counted forward + backward, attention included' +
            ('; MFU in brackets: against the '
             'matmul measured in the run)' if gpu and measured else ')'))
        if any((_ok(results, k) or {}).get('interleaved') for k in step_keys):
            rows.append(
                '(pre-training steps interleaved: InfMAE-B and MAE ViT-B '
                'each in one persistent process, one step each per round in '
                'rotating order, s/step the median over rounds; vs MAE '
                'ViT-B: the median of the per-round ratios, n/a where a '
                'process failed; the dense reference ran alone, after them)')
    iam = _ok(results, 'iam_share')
    step = _ok(results, f'train_step/infmae/{sizes[0]}')
    if iam and step:
        per_step = step['seconds'] * 8 / step['batch']
        rows += [
            '', f'| IAM masking, batch of 8 at 224 | seconds | share of '
            f'the InfMAE-B {sizes[0]} step (8 images) |', '|---|---|---|',
            f'| pipeline transform (1 worker thread), summed over the '
            f'batch | {iam["pipeline_seconds_per_batch"]:.4f} | '
            f'{iam["pipeline_seconds_per_batch"] / per_step:.2%} |',
            f'| in-model official linear scorer | '
            f'{iam["in_model_seconds_per_batch"]:.4f} | '
            f'{iam["in_model_seconds_per_batch"] / per_step:.2%} |'
        ]
    if any(k.startswith('backbone/') for k in results):
        rows += [
            '', '| backbone inference, batch 1 | size | s | GFLOP | '
            'time ratio | FLOPs ratio |', '|---|---|---|---|---|---|'
        ]
        for h, w in bb_sizes:
            mae = _ok(results, f'backbone/mae/{h}x{w}')
            for kind, label in (('infmae', 'InfMAE-B'), ('mae',
                                                         'mmseg MAE ViT-B')):
                key = f'backbone/{kind}/{h}x{w}'
                r = _ok(results, key)
                if r is None or mae is None:
                    rows.append(f'| {label} | {h}x{w} | {fail(key)} | | | |')
                    continue
                rows.append(f'| {label} | {h}x{w} | {r["seconds"]:.3f} | '
                            f'{r["flops"] / 1e9:.0f} | '
                            f'{r["seconds"] / mae["seconds"]:.2f} | '
                            f'{r["flops"] / mae["flops"]:.2f} |')
    full = [k for k in FULL_MODELS if f'inference/{k}' in results]
    if full:
        rows += [
            '', '| full model inference (predict), batch 1, fp32 | '
            'size | s | images/s | peak MB | params M | GMAC (of which '
            'SDPA) |', '|---|---|---|---|---|---|---|'
        ]
        for key in full:
            _, _, (h, w), label = FULL_MODELS[key]
            r = _ok(results, f'inference/{key}')
            if r is None:
                rows.append(f'| {label} | {h}x{w} | '
                            f'{fail("inference/" + key)} | | | | |')
                continue
            if 'macs' in r:
                macs = (f'{r["macs"] / 1e9:.0f} '
                        f'({r["attention_macs"] / 1e9:.1f})')
            elif 'macs_error' in r:
                macs = f'not counted: {r["macs_error"][:80]}'
            else:
                macs = 'as on the CPU'
            rows.append(f'| {label} | {h}x{w} | {r["seconds"]:.3f} | '
                        f'{1 / r["seconds"]:.2f} | '
                        f'{r["peak_memory_mb"]:.0f} | '
                        f'{r["params"] / 1e6:.1f} | {macs} |')
    return '\n'.join(rows)


if __name__ == '__main__':
    main()
