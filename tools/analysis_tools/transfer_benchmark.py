"""Transfer benchmark: what infrared pre-training buys on a real IRSTD set.

One protocol for every method (issue 21):

1. **Data.** An IRSTD set in the SIRST-v2 layout (``images/*/<stem>.png``,
   ``annotations/masks/<stem>_pixels0.png``, ``splits/*.txt``; other layouts
   through ``--img-dirs`` / ``--mask-dir`` / ``--mask-suffix``). Images are
   read as gray and, when their longer side exceeds ``--max-side``, shrunk to
   it (area interpolation; masks nearest), once, for every method alike.
   ``--train-split`` trains, ``--val-split`` (carved from trainval) chooses
   the hyper-parameters, ``--test-split`` is reported and never used to
   choose anything.
2. **Pre-training.** Every pre-trained method sees the same unlabelled
   frames (the train + val images, without their masks), the same encoder
   size, decoder, crop, batch, optimiser, schedule and number of epochs,
   through the package's own configs and mmengine's ``Runner`` (resumable:
   an interrupted run continues from its last checkpoint). Methods:
   ``infmae`` (IAM masks), ``infmae-random`` (random masks, the paper's
   "w/o IAM"), ``dugi`` (DuGI-MAE, paper form), ``mae`` (mmpretrain's MAE,
   a plain ViT of the same width and depth as the nano/tiny stage 3 plus two
   blocks for the conv stages), ``random`` (the InfMAE encoder without
   pre-training) and ``vit-random`` (MAE's ViT without pre-training: what
   the ViT's architecture gives on its own). ``unip`` is
   skipped with a message: it needs an RGB teacher checkpoint, which cannot
   be downloaded here.
3. **Frozen-feature probe** (UNIP's linear-probe protocol, made light for a
   CPU): the encoder is frozen, its multi-scale features (F1-F3 for the
   InfMAE encoders, the stride-16 map for the ViT) are computed once per
   image and cached in memory, standardised per channel with train-split
   statistics, and a light head (a 1x1 projection per level, summed at the
   finest stride, GELU, a 1x1 classifier, bilinear upsampling to the image)
   is trained on them with BCE + soft IoU.
4. **Fine-tune**: the same head on the encoder, everything trained, on
   random crops with flips, for a fixed number of iterations.
5. **Selection and report.** For each evaluation, one learning rate from
   ``--probe-lrs`` / ``--ft-lrs`` is chosen for *all* methods: the one with
   the best mean validation IoU over the methods (seed 0). The test table
   reports that learning rate's IoU / nIoU / Pd / Fa as mean +- std over the
   seeds. Every cell (evaluation, method, lr, seed) is written to the JSON as
   soon as it finishes (atomically); a killed run skips finished cells.

Example (the CPU recipe of the README; about 2 hours on 2 cores)::

    python tools/analysis_tools/transfer_benchmark.py \
        --data-root data/sirst-v2 --work-dir work_dirs/transfer

GPU (the base arch, sized for about 10 minutes on one H100)::

    python tools/analysis_tools/transfer_benchmark.py --device cuda \
        --arch base --data-root data/sirst-v2 --work-dir work_dirs/transfer_gpu
"""
import argparse
import contextlib
import copy
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from infmae_mm.models.heads.light_target_head import LightTargetFusion
from infmae_mm.models.losses.soft_iou_loss import SoftIoULoss

METHODS = ('random', 'infmae', 'infmae-random', 'dugi', 'mae', 'vit-random',
           'unip')
#: Methods without pre-training (random init): the InfMAE encoder and
#: MAE's plain ViT (the control that separates the ViT's architecture from
#: its pre-training).
RANDOM_INIT = ('random', 'vit-random')
#: Methods with mmpretrain's plain ViT encoder.
VIT_METHODS = ('mae', 'vit-random')
PRETRAIN_CONFIGS = {
    'infmae': 'configs/pretrain/infmae_vit-base-p16_4xb64-amp-coslr-400e_'
    'inf30.py',
    'infmae-random': 'configs/pretrain/infmae_vit-base-p16-randommask_4xb64-'
    'amp-coslr-400e_inf30.py',
    'dugi': 'configs/pretrain/dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-'
    '400e_inf590k.py',
    # mmpretrain's MAE is built from the InfMAE config's data and schedule
    # with the model replaced (see mae_model).
    'mae': 'configs/pretrain/infmae_vit-base-p16_4xb64-amp-coslr-400e_'
    'inf30.py',
}
#: Infrared statistics of every pre-training config (x 255, gray).
IR_MEAN, IR_STD = 0.425 * 255, 0.200 * 255
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# --------------------------------------------------------------------- data
def read_gray(path: str) -> np.ndarray:
    """An image file as a 2-D uint8 array (RGB / palette -> luminance)."""
    from PIL import Image
    with Image.open(path) as im:
        if im.mode not in ('L', 'I;16', 'I'):
            im = im.convert('L')
        arr = np.asarray(im)
    if arr.dtype != np.uint8:  # 16-bit: stretch this image's range to 8 bit
        lo, hi = np.percentile(arr, (0.5, 99.5))
        arr = np.clip((arr - lo) / max(hi - lo, 1) * 255, 0, 255)
        arr = arr.astype(np.uint8)
    return arr


def shrink(img: np.ndarray, mask: Optional[np.ndarray],
           max_side: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Shrink so that the longer side is at most ``max_side``."""
    import cv2
    h, w = img.shape
    scale = max_side / max(h, w)
    if scale >= 1:
        return img, mask
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    if mask is not None:
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return img, mask


def find_image(root: str, img_dirs: Sequence[str], stem: str,
               suffix: str) -> str:
    for d in img_dirs:
        path = osp.join(root, d, stem + suffix)
        if osp.exists(path):
            return path
    raise FileNotFoundError(
        f'image {stem}{suffix} is in none of --img-dirs {list(img_dirs)} '
        f'under {root}')


def load_split(args, split: str) -> Dict[str, list]:
    """Stems, images (uint8 HxW) and 0/1 masks of one split file.

    A mask of another size than its image is a defect of the data set (one
    exists in SIRST-v2's official files): it is resized to the image (nearest)
    and reported, never silently cropped.
    """
    import cv2
    split_file = osp.join(args.data_root, args.split_dir, split + '.txt')
    if not osp.exists(split_file):
        raise FileNotFoundError(
            f'split file {split_file} does not exist (--split-dir / '
            f'--{split} names)')
    with open(split_file) as f:
        stems = [s.strip() for s in f if s.strip()]
    out = dict(stems=[], images=[], masks=[], fixed=[])
    for stem in stems:
        img = read_gray(
            find_image(args.data_root, args.img_dirs, stem, args.img_suffix))
        mpath = osp.join(args.data_root, args.mask_dir,
                         stem + args.mask_suffix)
        if not osp.exists(mpath):
            raise FileNotFoundError(f'mask {mpath} of {stem} is missing')
        mask = (read_gray(mpath) > 0).astype(np.uint8)
        if mask.shape != img.shape:
            out['fixed'].append(
                f'{mpath}: mask {mask.shape[::-1]} vs image '
                f'{img.shape[::-1]} (W x H), resized to the image')
            mask = cv2.resize(
                mask, img.shape[::-1], interpolation=cv2.INTER_NEAREST)
        img, mask = shrink(img, mask, args.max_side)
        out['stems'].append(stem)
        out['images'].append(img)
        out['masks'].append(mask)
    return out


def carve_val(split: dict, fraction: float, seed: int = 0):
    """Split a train split into (train, val) with a fixed seed.

    For sets without a validation split (IRSTD-1k, NUAA-SIRST's trainval
    only): the last ``fraction`` of a seeded permutation becomes val.
    """
    n = len(split['stems'])
    n_val = int(round(n * fraction))
    if not 0 < n_val < n:
        raise ValueError(f'--val-fraction {fraction} of {n} images leaves '
                         f'no train or no val image')
    order = np.random.default_rng(seed).permutation(n)
    pick = [order[:n - n_val], order[n - n_val:]]
    return tuple(
        dict(
            stems=[split['stems'][i] for i in idx],
            images=[split['images'][i] for i in idx],
            masks=[split['masks'][i] for i in idx],
            fixed=split['fixed']) for idx in pick)


def write_frames(splits: Sequence[dict], folder: str) -> int:
    """The unlabelled pre-training frames: every image, as PNG."""
    import cv2
    os.makedirs(folder, exist_ok=True)
    n = 0
    for split in splits:
        for stem, img in zip(split['stems'], split['images']):
            path = osp.join(folder, stem + '.png')
            if not osp.exists(path):
                tmp = path + '.tmp.png'
                cv2.imwrite(tmp, img)
                os.replace(tmp, path)
            n += 1
    return n


def normalise(img: np.ndarray, device: str) -> torch.Tensor:
    """(H, W) uint8 -> (1, 3, H, W) normalised gray replicated to 3."""
    x = torch.from_numpy(np.array(img)).float().to(device)
    x = (x - IR_MEAN) / IR_STD
    return x.expand(1, 3, *x.shape).contiguous()


def padded_size(shape: Sequence[int], multiple: int = 32) -> Tuple[int, int]:
    """(H, W) rounded up to a multiple (the size :func:`pad_to` gives)."""
    h, w = shape[-2:]
    return (-(-h // multiple) * multiple, -(-w // multiple) * multiple)


def pad_to(x: torch.Tensor, multiple: int = 32) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = 'reflect' if ph < h and pw < w else 'replicate'
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x


# ----------------------------------------------------------- pre-training
ARCH_WIDTH = {'nano': 64, 'tiny': 192, 'small': 384, 'base': 768}
ARCH_DEPTH = {'nano': 4, 'tiny': 8, 'small': 15, 'base': 15}


def mae_model(arch: str, crop: int, decoder: dict) -> dict:
    """Mmpretrain's MAE of the same width as the InfMAE arch's stage 3.

    Depth: the InfMAE stage-3 blocks plus one per conv block (a ViT of
    about the same parameter count and depth).
    """
    width = ARCH_WIDTH[arch]
    heads = {'nano': 2, 'tiny': 3, 'small': 6, 'base': 12}[arch]
    vit_arch = dict(
        embed_dims=width,
        num_layers=ARCH_DEPTH[arch],
        num_heads=heads,
        feedforward_channels=4 * width)
    return dict(
        type='MAE',
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor',
            mean=[IR_MEAN] * 3,
            std=[IR_STD] * 3,
            to_rgb=False),
        backbone=dict(
            type='MAEViT',
            arch=vit_arch,
            img_size=crop,
            patch_size=16,
            mask_ratio=0.75),
        neck=dict(
            type='MAEPretrainDecoder',
            num_patches=(crop // 16)**2,
            patch_size=16,
            in_chans=3,
            embed_dim=width,
            decoder_embed_dim=decoder['decoder_embed_dim'],
            decoder_depth=decoder['decoder_depth'],
            decoder_num_heads=decoder['decoder_num_heads'],
            mlp_ratio=4.),
        head=dict(
            type='MAEPretrainHead',
            norm_pix=False,
            patch_size=16,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')),
        init_cfg=None)


def pretrain_config(args, method: str, frames: str, work_dir: str):
    """The method's pre-training config at the benchmark's budget."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, PRETRAIN_CONFIGS[method]))
    width = ARCH_WIDTH[args.arch]
    decoder = dict(
        decoder_embed_dim=args.decoder_dim,
        decoder_depth=2,
        decoder_num_heads=args.decoder_heads)
    crop = args.pretrain_crop
    if method == 'mae':
        cfg.model = mae_model(args.arch, crop, decoder)
        pipeline = [
            s for s in cfg.train_pipeline if s['type'] != 'IAMMaskGenerator'
        ]
        pipeline[-1] = dict(type='PackInputs')
    else:
        cfg.model.backbone.arch = args.arch
        cfg.model.backbone.img_size = crop
        cfg.model.neck.update(embed_dim=width, grid_size=crop // 16, **decoder)
        guidance = cfg.model.neck.get('guidance')
        if guidance is not None and args.arch in ('nano', 'tiny'):
            # the DDG attends at the encoder width (64 / 192 here)
            guidance.fusion.num_heads = args.decoder_heads
        pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    for step in pipeline:
        if step['type'] == 'RandomResizedCrop':
            step['scale'] = crop
    cfg.train_dataloader.dataset.pipeline = pipeline
    cfg.train_dataloader.dataset.data_root = frames
    cfg.train_dataloader.batch_size = args.pretrain_batch
    cfg.train_dataloader.num_workers = args.workers
    cfg.train_dataloader.persistent_workers = args.workers > 0
    wrapper = 'AmpOptimWrapper' if args.device == 'cuda' else 'OptimWrapper'
    cfg.optim_wrapper = dict(
        type=wrapper,
        optimizer=dict(
            type='AdamW',
            lr=args.pretrain_lr,
            betas=(0.9, 0.95),
            weight_decay=0.05),
        constructor=cfg.optim_wrapper.get('constructor'),
        paramwise_cfg=cfg.optim_wrapper.get('paramwise_cfg'))
    if cfg.optim_wrapper['constructor'] is None:
        cfg.optim_wrapper.pop('constructor')
    cfg.param_scheduler = [
        dict(
            type='WarmupCosineLR',
            warmup_fraction=0.05,
            warmup_start_factor=1e-3,
            eta_min=1e-5,
            by_epoch=True,
            convert_to_iter_based=True)
    ]
    cfg.train_cfg = dict(
        type='EpochBasedTrainLoop', max_epochs=args.pretrain_epochs)
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = None
    interval = max(1, args.pretrain_epochs // 4)
    cfg.default_hooks.checkpoint = dict(
        type='AtomicCheckpointHook', interval=interval, max_keep_ckpts=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.randomness = dict(seed=args.pretrain_seed, diff_rank_seed=False)
    cfg.auto_scale_lr = dict(enable=False)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'transfer_pretrain_{method}_{int(time.time())}'
    cfg.launcher = 'none'
    cfg.resume = True
    cfg.load_from = None
    cfg.env_cfg = dict(
        cudnn_benchmark=False,
        mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
        dist_cfg=dict(backend='nccl'))
    return cfg


def pretrain(args, method: str, frames: str) -> Tuple[str, float]:
    """Pre-train (or resume) one method; the final checkpoint's path."""
    from mmengine.runner import Runner
    work_dir = osp.join(args.work_dir, 'pretrain', method)
    final = osp.join(work_dir, f'epoch_{args.pretrain_epochs}.pth')
    timing = osp.join(work_dir, 'seconds.json')
    settings = osp.join(work_dir, 'settings.json')
    wanted = pretrain_protocol(args)
    if osp.exists(settings):
        with open(settings) as f:
            if json.load(f) != wanted:
                raise SystemExit(
                    f'{work_dir} holds a pre-training with other settings '
                    f'({settings}); use another --work-dir.')
    else:
        _atomic_json(settings, wanted)
    if osp.exists(final):
        seconds = json.load(
            open(timing))['seconds'] if osp.exists(timing) else float('nan')
        return final, seconds
    wait_for_other_run(work_dir, final)
    if osp.exists(final):
        return pretrain(args, method, frames)
    cfg = pretrain_config(args, method, frames, work_dir)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    seconds = time.time() - start
    if not osp.exists(final):
        raise RuntimeError(f'pre-training {method} ended without {final}')
    _atomic_json(timing, dict(seconds=seconds))
    return final, seconds


def wait_for_other_run(work_dir: str,
                       final: str,
                       quiet_seconds: float = 180.) -> None:
    """Wait while another benchmark process pre-trains in ``work_dir``.

    A run is taken as alive while a file under ``work_dir`` (its log,
    scalars or checkpoints) changed in the last ``quiet_seconds``; two
    Runners training into one folder would overwrite each other's
    checkpoints.
    """

    def last_change() -> float:
        times = [
            osp.getmtime(osp.join(root, f))
            for root, _, files in os.walk(work_dir) for f in files
            if f != 'settings.json'
        ]
        return max(times, default=0.)

    while (not osp.exists(final)
           and time.time() - last_change() < quiet_seconds):
        print(
            f'{work_dir}: another run is pre-training here; waiting for '
            f'{osp.basename(final)}',
            flush=True)
        time.sleep(30)


@contextlib.contextmanager
def quiet_logger():
    """Raise mmengine's current logger to WARNING inside the block."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')
    try:
        yield
    finally:
        logger.setLevel(level)


# ---------------------------------------------------------------- encoders
class Encoder(nn.Module):
    """A backbone that returns a list of NCHW maps (finest first)."""

    def __init__(self, args, method: str, checkpoint: Optional[str]) -> None:
        super().__init__()
        from mmpretrain.registry import MODELS

        import infmae_mm  # noqa: F401 (registers the components)
        state = None
        img_size = args.pretrain_crop
        if checkpoint is not None:
            from infmae_mm.utils.checkpoint import (extract_state_dict,
                                                    safe_load_checkpoint)
            state = extract_state_dict(safe_load_checkpoint(checkpoint))
            state = {
                k[len('backbone.'):]: v
                for k, v in state.items() if k.startswith('backbone.')
            }
            # the position table's grid is the pre-training crop's (a
            # given checkpoint may come from another crop, e.g. the demo)
            if 'pos_embed' in state:
                tokens = state['pos_embed'].shape[1] - (method in VIT_METHODS)
                img_size = int(round(math.sqrt(tokens))) * 16
        if method in VIT_METHODS:
            width = ARCH_WIDTH[args.arch]
            heads = {'nano': 2, 'tiny': 3, 'small': 6, 'base': 12}[args.arch]
            cfg = dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=width,
                    num_layers=ARCH_DEPTH[args.arch],
                    num_heads=heads,
                    feedforward_channels=4 * width),
                img_size=img_size,
                patch_size=16,
                out_type='featmap',
                final_norm=True)
        else:
            cfg = dict(
                type='InfMAEViT',
                arch=args.arch,
                img_size=img_size,
                out_type='featmap')
        self.backbone = MODELS.build(cfg)
        if method in RANDOM_INIT:
            torch.manual_seed(args.pretrain_seed)
            with quiet_logger():  # init_weights logs every tensor
                self.backbone.init_weights()
        if checkpoint is not None:
            from infmae_mm.utils.checkpoint import load_checkpoint_checked
            load_checkpoint_checked(
                self.backbone,
                checkpoint,
                f'the {method} encoder',
                partial_option=None,
                state_dict=state)
        self.channels = list(self.out_channels())

    def out_channels(self) -> List[int]:
        with torch.no_grad():
            feats = self.forward(torch.zeros(1, 3, 64, 64))
        return [f.shape[1] for f in feats]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        feats = self.backbone(x)
        return list(feats)


POOLED_SOFT_IOU = SoftIoULoss(per_image=False)


def target_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + the package's soft IoU pooled over the batch
    (``SoftIoULoss(per_image=False)``, DNANet's form) of (B, 1, H, W) logits
    against 0/1 float targets.

    Pooled rather than per image: most crops hold no target, and the
    per-image form then only pushes every score down (measured: a probe
    trained with it on SIRST-v2 predicted nothing, IoU 0.1 vs 10.7).
    """
    bce = F.binary_cross_entropy_with_logits(logits, target)
    return bce + POOLED_SOFT_IOU(
        logits, target[:, 0].long(), ignore_index=None)


def evaluate(predict, split: dict) -> Dict[str, float]:
    """IoU / nIoU / Pd / Fa (and F1, AUC) of ``predict(img) -> prob``."""
    from infmae_mm.evaluation.irstd_metric import IRSTDMetric
    metric = IRSTDMetric()
    for img, mask in zip(split['images'], split['masks']):
        prob = predict(img)
        metric.process(None, [
            dict(
                gt_sem_seg=dict(data=torch.from_numpy(mask)[None].long()),
                seg_logits=dict(data=prob[None].float().cpu()))
        ])
    # the metric logs a table per call; the benchmark prints its own
    with quiet_logger():
        return {
            k: float(v)
            for k, v in metric.compute_metrics(metric.results).items()
        }


# ------------------------------------------------------------------- probe
@torch.no_grad()
def cache_features(encoder: Encoder, split: dict,
                   device: str) -> List[List[torch.Tensor]]:
    encoder.eval()
    out = []
    for img in split['images']:
        x = pad_to(normalise(img, device))
        feats = encoder(x)
        out.append([f.cpu() for f in feats])
    return out


def channel_stats(feats: List[List[torch.Tensor]]):
    stats = []
    for level in range(len(feats[0])):
        flat = torch.cat([f[level][0].flatten(1) for f in feats], dim=1)
        stats.append((flat.mean(1).view(1, -1, 1, 1),
                      flat.std(1).clamp_min(1e-6).view(1, -1, 1, 1)))
    return stats


def standardise(feats, stats, dtype: torch.dtype = torch.float32):
    """Per-channel standardised features, stored as ``dtype`` (float16 on
    GPUs: the base arch's cached maps of SIRST-v2 are about 20 GB in
    float32)."""
    return [[((f - m) / s).to(dtype) for f, (m, s) in zip(item, stats)]
            for item in feats]


def crop_origin(rng: np.random.Generator,
                mask: np.ndarray,
                crop: int,
                align: int = 1,
                target_prob: float = 0.5) -> Tuple[int, int]:
    """Top-left corner of a ``crop`` x ``crop`` window in ``mask``'s frame.

    With probability ``target_prob`` (when the image has a target) the
    window contains a random target pixel, otherwise it is uniform; corners
    are multiples of ``align``. The same sampler serves the probe and the
    fine-tune, for every method. ``mask`` must be at least ``crop`` high
    and wide.
    """
    h, w = mask.shape
    ys, xs = np.nonzero(mask) if rng.random() < target_prob else ((), ())
    if len(ys):
        k = int(rng.integers(len(ys)))
        lo_y, hi_y = max(0, ys[k] - crop + 1), min(h - crop, ys[k])
        lo_x, hi_x = max(0, xs[k] - crop + 1), min(w - crop, xs[k])
    else:
        lo_y, hi_y, lo_x, hi_x = 0, h - crop, 0, w - crop
    return _aligned(rng, lo_y, hi_y, align), _aligned(rng, lo_x, hi_x, align)


def _aligned(rng: np.random.Generator, lo: int, hi: int, align: int) -> int:
    """A uniform multiple of ``align`` in [lo, hi] (lo rounded down if the
    range holds none)."""
    first, last = -(-lo // align), hi // align
    if first > last:
        return lo // align * align
    return int(rng.integers(first, last + 1)) * align


def _pad_features(feats: List[torch.Tensor], mask: np.ndarray, crop: int):
    """Zero-pad (the standardised mean) features and mask to >= crop."""
    H, W = padded_size(mask.shape)
    th, tw = max(H, crop), max(W, crop)
    mask = np.pad(mask, ((0, th - mask.shape[0]), (0, tw - mask.shape[1])))
    if (th, tw) != (H, W):
        feats = [
            F.pad(f, (0, tw * f.shape[-1] // W - f.shape[-1], 0,
                      th * f.shape[-2] // H - f.shape[-2])) for f in feats
        ]
    return feats, mask


def train_probe(args, train_feats, train_split, channels, lr: float,
                seed: int) -> LightTargetFusion:
    """Train the light head on crops of the cached (standardised) features.

    Each step takes ``--probe-batch`` windows of ``--probe-crop`` pixels
    (corners on the 16-pixel grid, so every level crops exactly), flipped
    at random, and scores them at full resolution against the mask.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = args.device
    head = LightTargetFusion(channels, args.head_channels).to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    steps = args.probe_steps
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    crop = args.probe_crop
    padded = [
        _pad_features(f, m, crop)
        for f, m in zip(train_feats, train_split['masks'])
    ]
    head.train()
    for step in range(steps):
        levels = [[] for _ in channels]
        targets = []
        for _ in range(args.probe_batch):
            feats, mask = padded[int(rng.integers(len(padded)))]
            y, x = crop_origin(rng, mask, crop, align=16)
            flip = rng.random() < 0.5
            for i, f in enumerate(feats):
                s = mask.shape[0] // f.shape[-2]
                f = f[0, :, y // s:(y + crop) // s, x // s:(x + crop) // s]
                levels[i].append(f.flip(-1) if flip else f)
            t = mask[y:y + crop, x:x + crop]
            targets.append(t[:, ::-1] if flip else t)
        feats = [torch.stack(level).to(device).float() for level in levels]
        target = torch.from_numpy(np.stack(targets).copy()).float()[:, None]
        target = target.to(device)
        loss = target_loss(head(feats, (crop, crop)), target)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f'probe loss became {float(loss)} at step {step} (lr {lr})')
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    head.eval()
    return head


def probe_predictor(head: LightTargetFusion, feats_by_index):

    device = next(head.parameters()).device

    @torch.no_grad()
    def predict_index(i: int, shape) -> torch.Tensor:
        h, w = shape
        feats = [f.to(device).float() for f in feats_by_index[i]]
        return head(feats, padded_size(shape))[0, 0, :h, :w].sigmoid()

    return predict_index


def evaluate_indexed(predict_index, split) -> Dict[str, float]:
    it = iter(range(len(split['images'])))

    def predict(img):
        return predict_index(next(it), img.shape)

    return evaluate(predict, split)


# ---------------------------------------------------------------- fine-tune
def random_crops(rng, split: dict, batch: int, crop: int,
                 device: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """A batch of ``crop`` windows (:func:`crop_origin`) with random flips:

    (B, 3, crop, crop) normalised images and (B, 1, crop, crop) masks.
    """
    imgs, masks = [], []
    for _ in range(batch):
        j = int(rng.integers(len(split['images'])))
        img, mask = split['images'][j], split['masks'][j]
        h, w = img.shape
        ph, pw = max(0, crop - h), max(0, crop - w)
        if ph or pw:
            img = np.pad(img, ((0, ph), (0, pw)), mode='reflect')
            mask = np.pad(mask, ((0, ph), (0, pw)), mode='constant')
        y, x = crop_origin(rng, mask, crop)
        img, mask = img[y:y + crop, x:x + crop], mask[y:y + crop, x:x + crop]
        if rng.random() < 0.5:
            img, mask = img[:, ::-1], mask[:, ::-1]
        if rng.random() < 0.5:
            img, mask = img[::-1], mask[::-1]
        imgs.append(np.ascontiguousarray(img))
        masks.append(np.ascontiguousarray(mask))
    x = torch.from_numpy(np.stack(imgs)).float().to(device)
    x = ((x - IR_MEAN) / IR_STD)[:, None].expand(-1, 3, -1, -1)
    y = torch.from_numpy(np.stack(masks)).float().to(device)[:, None]
    return x.contiguous(), y


def finetune(args, method: str, checkpoint: Optional[str], data: dict,
             lr: float, seed: int) -> Tuple[dict, dict, List[float]]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = Encoder(args, method, checkpoint).to(args.device)
    head = LightTargetFusion(encoder.channels,
                             args.head_channels).to(args.device)
    params = [
        dict(params=encoder.parameters(), lr=lr * args.ft_backbone_lr_mult),
        dict(params=head.parameters(), lr=lr)
    ]
    opt = torch.optim.AdamW(params, weight_decay=0.05)
    steps = args.ft_iters
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=[lr * args.ft_backbone_lr_mult, lr],
        total_steps=steps,
        pct_start=0.1)
    encoder.train()
    head.train()
    curve = []
    for step in range(steps):
        x, y = random_crops(rng, data['train'], args.ft_batch, args.ft_crop,
                            args.device)
        logits = head(encoder(x), x.shape[-2:])
        loss = target_loss(logits, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f'fine-tune loss became {float(loss)} at iteration {step} '
                f'({method}, lr {lr}, seed {seed})')
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curve.append(float(loss))
    encoder.eval()
    head.eval()

    @torch.no_grad()
    def predict(img):
        x = normalise(img, args.device)
        h, w = img.shape
        xp = pad_to(x)
        return head(encoder(xp), xp.shape[-2:])[0, 0, :h, :w].sigmoid()

    return (evaluate(predict, data['val']), evaluate(predict, data['test']),
            curve[::max(1, steps // 50)])


# ------------------------------------------------------------------ results
def _atomic_json(path: str, obj) -> None:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cell_key(evaluation: str, method: str, lr: float, seed: int) -> str:
    return f'{evaluation}/{method}/lr={lr:g}/seed={seed}'


def choose_lr(cells: dict, evaluation: str, methods: Sequence[str],
              lrs: Sequence[float]) -> Optional[float]:
    """The lr with the best mean validation IoU over methods (seed 0)."""
    best, best_score = None, -math.inf
    for lr in lrs:
        scores = []
        for m in methods:
            cell = cells.get(cell_key(evaluation, m, lr, 0))
            if cell is None:
                return None
            scores.append(cell['val']['IoU'])
        score = float(np.nanmean(scores))
        if score > best_score:
            best, best_score = lr, score
    return best


def summarise(results: dict, methods: Sequence[str], seeds: Sequence[int],
              args) -> dict:
    cells = results['cells']
    summary = {}
    for evaluation, lrs in (('probe', args.probe_lrs), ('finetune',
                                                        args.ft_lrs)):
        lr = choose_lr(cells, evaluation, methods, lrs)
        if lr is None:
            continue
        rows = {}
        for m in methods:
            runs = [cells.get(cell_key(evaluation, m, lr, s)) for s in seeds]
            runs = [r for r in runs if r is not None]
            if not runs:
                continue
            row = dict(seeds=len(runs))
            for split in ('val', 'test'):
                for k in ('IoU', 'nIoU', 'Pd', 'Fa', 'F1', 'AUC'):
                    vals = np.array([r[split][k] for r in runs], float)
                    row[f'{split}_{k}'] = [
                        float(vals.mean()),
                        float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                        vals.tolist()
                    ]
            rows[m] = row
        summary[evaluation] = dict(lr=lr, rows=rows)
    return summary


def print_table(summary: dict) -> str:
    lines = []
    for evaluation, block in summary.items():
        lines.append(f'\n{evaluation} (lr {block["lr"]:g}, chosen on val; '
                     f'test split, mean +- std over seeds)')
        lines.append('| method | seeds | IoU | nIoU | Pd | Fa (1e-6) '
                     '| val IoU |')
        lines.append('|---|---|---|---|---|---|---|')
        for m, row in block['rows'].items():

            def fmt(key, digits=1):
                mean, std, _ = row[key]
                return f'{mean:.{digits}f} +- {std:.{digits}f}'

            lines.append(f'| {m} | {row["seeds"]} | {fmt("test_IoU")} | '
                         f'{fmt("test_nIoU")} | {fmt("test_Pd")} | '
                         f'{fmt("test_Fa", 0)} | {fmt("val_IoU")} |')
    text = '\n'.join(lines)
    print(text, flush=True)
    return text


def budget_table(budget: dict) -> str:
    """The budget curve as text: test IoU (mean +- std) per epoch."""
    curve = budget.get('test_IoU') or {}
    if not curve:
        return ''
    epochs = sorted({int(e) for points in curve.values() for e in points})
    lines = [
        f'\nprobe test IoU against pre-training epochs (lr {budget["lr"]:g}, '
        f'epoch 0 = random init)',
        '| method | ' + ' | '.join(str(e) for e in epochs) + ' |',
        '|---' * (len(epochs) + 1) + '|'
    ]
    for m, points in curve.items():
        cells = []
        for e in epochs:
            values = points.get(str(e)) or []
            cells.append(
                f'{np.mean(values):.1f} +- '
                f'{np.std(values, ddof=1):.1f}' if len(values) > 1 else '')
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
    text = '\n'.join(lines)
    print(text, flush=True)
    return text


def machine(args) -> str:
    """The machine in one line (CPU model, cores, threads, device)."""
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    text = (f'{cpu}, {os.cpu_count()} cores, torch '
            f'{torch.__version__} with {torch.get_num_threads()} threads')
    if args.device.startswith('cuda') and torch.cuda.is_available():
        text += f', {torch.cuda.get_device_name()}'
    return text


def plot(summary: dict, results: dict, path: str) -> None:
    """Test IoU per method and evaluation (bars: mean +- std, dots: seeds), the
    probe's IoU against pre-training epochs, the pre-training losses."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    evals = list(summary)
    if not evals:
        return
    budget = results.get('budget_curve') or {}
    panels = len(evals) + 1 + bool(budget.get('test_IoU'))
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    for ax, evaluation in zip(axes, evals):
        rows = summary[evaluation]['rows']
        names = list(rows)
        means = [rows[m]['test_IoU'][0] for m in names]
        stds = [rows[m]['test_IoU'][1] for m in names]
        ax.bar(names, means, yerr=stds, capsize=4, color='tab:blue')
        for i, m in enumerate(names):
            values = rows[m]['test_IoU'][2]
            ax.scatter([i] * len(values), values, color='k', s=10, zorder=3)
        ax.set_title(f'{evaluation}: test IoU '
                     f'(lr {summary[evaluation]["lr"]:g})')
        ax.tick_params(axis='x', rotation=30)
    if budget.get('test_IoU'):
        ax = axes[len(evals)]
        for m, points in budget['test_IoU'].items():
            epochs = sorted(int(e) for e in points if points[e])
            means = [np.mean(points[str(e)]) for e in epochs]
            stds = [
                np.std(points[str(e)], ddof=1)
                if len(points[str(e)]) > 1 else 0. for e in epochs
            ]
            ax.errorbar(
                epochs, means, yerr=stds, marker='o', capsize=3, label=m)
        ax.set_xlabel('pre-training epochs (0 = random init)')
        ax.set_title(f'probe test IoU vs budget (lr {budget["lr"]:g})')
        ax.legend(fontsize=7)
    ax = axes[-1]
    for key, curve in results.get('pretrain_loss', {}).items():
        ax.plot(curve, label=key)
    ax.set_title('pre-training loss (logged iterations)')
    if results.get('pretrain_loss'):
        ax.set_yscale('log')
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path + '.tmp.png'
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)


def pretrain_losses(work_dir: str) -> List[float]:
    """The logged losses of a pre-training run (mmengine's scalars.json)."""
    curve = []
    for root, _, files in sorted(os.walk(work_dir)):
        for f in sorted(files):
            if f == 'scalars.json':
                with open(osp.join(root, f)) as fh:
                    for line in fh:
                        rec = json.loads(line)
                        if 'loss' in rec:
                            curve.append(float(rec['loss']))
    return curve


# --------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data-root', required=True)
    p.add_argument('--work-dir', default='work_dirs/transfer')
    p.add_argument(
        '--out',
        default=None,
        help='results JSON (default WORK_DIR/transfer.json)')
    p.add_argument(
        '--img-dirs',
        nargs='+',
        default=['images/targets', 'images/backgrounds'])
    p.add_argument('--img-suffix', default='.png')
    p.add_argument('--mask-dir', default='annotations/masks')
    p.add_argument('--mask-suffix', default='_pixels0.png')
    p.add_argument('--split-dir', default='splits')
    p.add_argument('--train-split', default='train_full')
    p.add_argument('--val-split', default='val_full')
    p.add_argument('--test-split', default='test_full')
    p.add_argument('--max-side', type=int, default=512)
    p.add_argument(
        '--methods',
        nargs='+',
        default=[
            'random', 'infmae', 'infmae-random', 'dugi', 'mae', 'vit-random'
        ],
        choices=METHODS)
    p.add_argument(
        '--val-fraction',
        type=float,
        default=0.25,
        help='with --val-split "": the fraction of the train split carved '
        'out (seeded) as the validation split')
    p.add_argument(
        '--checkpoint',
        nargs='*',
        default=[],
        metavar='METHOD=FILE',
        help='use these pre-trained checkpoints instead of pre-training the '
        'methods here (e.g. infmae=work_dirs/demo/epoch_100.pth)')
    p.add_argument(
        '--budget-curve',
        action='store_true',
        help='also probe the intermediate pre-training checkpoints (test '
        'IoU against pre-training epochs)')
    p.add_argument(
        '--unip-teacher',
        default=None,
        help='UNIP teacher checkpoint (the method is skipped '
        'without one)')
    p.add_argument(
        '--evaluations',
        nargs='*',
        default=['probe', 'finetune'],
        choices=['probe', 'finetune'])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--arch', default='nano', choices=list(ARCH_WIDTH))
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--workers', type=int, default=1)
    p.add_argument('--pretrain-epochs', type=int, default=100)
    p.add_argument('--pretrain-crop', type=int, default=128)
    p.add_argument('--pretrain-batch', type=int, default=32)
    p.add_argument('--pretrain-lr', type=float, default=1.5e-3)
    p.add_argument('--pretrain-seed', type=int, default=0)
    p.add_argument(
        '--decoder-dim',
        type=int,
        default=None,
        help='decoder width (default: 64 for nano / tiny, 512 for larger '
        'arches, the paper\'s)')
    p.add_argument(
        '--decoder-heads',
        type=int,
        default=None,
        help='decoder heads (default: 2 for nano / tiny, 16 for larger)')
    p.add_argument('--head-channels', type=int, default=32)
    p.add_argument(
        '--probe-lrs', type=float, nargs='+', default=[3e-3, 1e-2, 3e-2])
    p.add_argument('--probe-steps', type=int, default=300)
    p.add_argument('--probe-batch', type=int, default=16)
    p.add_argument('--probe-crop', type=int, default=128)
    p.add_argument('--ft-lrs', type=float, nargs='+', default=[1e-3, 3e-3])
    p.add_argument('--ft-backbone-lr-mult', type=float, default=1.0)
    p.add_argument('--ft-iters', type=int, default=400)
    p.add_argument('--ft-batch', type=int, default=8)
    p.add_argument('--ft-crop', type=int, default=128)
    args = p.parse_args(argv)
    small = args.arch in ('nano', 'tiny')
    if args.decoder_dim is None:
        args.decoder_dim = 64 if small else 512
    if args.decoder_heads is None:
        args.decoder_heads = 2 if small else 16
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or osp.join(args.work_dir, 'transfer.json')
    methods = [m for m in args.methods if m != 'unip']
    if 'unip' in args.methods and not args.unip_teacher:
        print('unip: skipped, it distils an RGB teacher and none was given '
              '(--unip-teacher); no teacher can be downloaded here.')
    elif 'unip' in args.methods:
        raise SystemExit('unip with a teacher checkpoint is not wired into '
                         'this benchmark yet; run it without unip.')
    results = dict(cells={})
    if osp.exists(out):
        with open(out) as f:
            results = json.load(f)
        if results.get('args',
                       {}).get('protocol') not in (None, protocol(args)):
            raise SystemExit(
                f'{out} holds cells of another protocol; use another '
                f'--work-dir / --out to start a new benchmark.')
    results['args'] = dict(vars(args), protocol=protocol(args))
    start = time.time()

    def log(msg):
        print(f'[{time.time() - start:7.0f}s] {msg}', flush=True)

    data = {
        name: load_split(args, split)
        for name, split in (('train', args.train_split),
                            ('val', args.val_split), ('test', args.test_split))
        if split
    }
    if 'val' not in data:
        data['train'], data['val'] = carve_val(data['train'],
                                               args.val_fraction)
    results['data'] = {
        name: dict(
            images=len(d['stems']),
            target_images=int(sum(m.any() for m in d['masks'])),
            mask_fixes=d['fixed'])
        for name, d in data.items()
    }
    for name, d in data.items():
        for fix in d['fixed']:
            log(f'data defect ({name}): {fix}')
    frames = osp.join(args.work_dir, 'frames')
    n_frames = write_frames([data['train'], data['val']], frames)
    log(f'{n_frames} unlabelled frames (train + val images) in {frames}')

    checkpoints = {m: None for m in RANDOM_INIT}
    given = dict(item.split('=', 1) for item in args.checkpoint)
    for m, path in given.items():
        if m not in METHODS or m in RANDOM_INIT or not osp.isfile(path):
            raise SystemExit(
                f'--checkpoint {m}={path}: expected METHOD=FILE with METHOD '
                f'in {[m for m in METHODS if m not in RANDOM_INIT]} and an '
                f'existing file')
    results.setdefault('pretrain_seconds', {})
    results.setdefault('pretrain_loss', {})
    cells = results['cells']
    # Method by method (pre-train, probe, fine-tune seed 0 at every lr, then
    # the other seeds), so that an interrupted run has whole rows. The other
    # seeds run at the lr that is best on val over the methods done so far;
    # the reported lr is chosen over all methods at the end, and any seed
    # missing at that lr runs then (same cells, same rule: only the order
    # of the work is speculative).
    done = []
    for m in methods:
        if m in given:
            checkpoints[m] = given[m]
            log(f'{m}: the given checkpoint {given[m]}')
        elif m not in RANDOM_INIT:
            log(f'pre-training {m} ({args.pretrain_epochs} epochs)')
            checkpoints[m], seconds = pretrain(args, m, frames)
            results['pretrain_seconds'][m] = seconds
            results['pretrain_loss'][m] = pretrain_losses(
                osp.join(args.work_dir, 'pretrain', m))
            _atomic_json(out, results)
        if 'probe' in args.evaluations:
            run_probe_cells(args, m, checkpoints[m], data, cells, results, out,
                            log)
        if 'finetune' in args.evaluations:
            done.append(m)
            for lr in args.ft_lrs:
                run_ft_cell(args, (m, lr, args.seeds[0]), checkpoints, data,
                            cells, results, out, log)
            lr = choose_lr(cells, 'finetune', done, args.ft_lrs)
            for d in done:
                for s in args.seeds[1:]:
                    run_ft_cell(args, (d, lr, s), checkpoints, data, cells,
                                results, out, log)
    if 'finetune' in args.evaluations:
        lr = choose_lr(cells, 'finetune', methods, args.ft_lrs)
        log(f'fine-tune lr chosen on val: {lr:g}')
        for s in args.seeds[1:]:
            for m in methods:
                run_ft_cell(args, (m, lr, s), checkpoints, data, cells,
                            results, out, log)

    if args.budget_curve and 'probe' in args.evaluations:
        results['budget_curve'] = budget_curve(args, methods, checkpoints,
                                               data, cells, results, out, log)
    results['summary'] = summarise(results, methods, args.seeds, args)
    results['table'] = print_table(results['summary']) + budget_table(
        results.get('budget_curve') or {})
    results['what'] = (
        f'Transfer benchmark (tools/analysis_tools/transfer_benchmark.py): '
        f'{args.arch} encoders pre-trained {args.pretrain_epochs} epochs on '
        f'the {args.train_split} + {args.val_split or "carved val"} images '
        f'of {osp.basename(osp.normpath(args.data_root))} by each method, '
        f'then a frozen-feature probe and a {args.ft_iters}-iteration '
        f'fine-tune, lr chosen on {args.val_split or "carved val"}, test on '
        f'{args.test_split}; mean +- std over seeds {args.seeds}')
    results['machine'] = machine(args)
    _atomic_json(out, results)
    plot(results['summary'], results, osp.splitext(out)[0] + '.png')
    log(f'results: {out}')
    return results


def run_probe_cells(args,
                    m: str,
                    checkpoint: Optional[str],
                    data: dict,
                    cells: dict,
                    results: dict,
                    out: str,
                    log,
                    label: Optional[str] = None,
                    lrs: Optional[Sequence[float]] = None,
                    evaluation: str = 'probe') -> None:
    """Every (lr, seed) probe cell of method ``m`` not yet in ``cells``.

    ``label`` names the row (default ``m``; the budget curve uses
    ``m@epoch``), ``lrs`` the learning rates (default ``--probe-lrs``).
    """
    label = label or m
    lrs = args.probe_lrs if lrs is None else lrs
    todo = [(lr, s) for lr in lrs for s in args.seeds
            if cell_key(evaluation, label, lr, s) not in cells]
    if not todo:
        return
    log(f'{evaluation} {label}: caching features')
    encoder = Encoder(args, m, checkpoint).to(args.device)
    feats = {
        k: cache_features(encoder, data[k], args.device)
        for k in ('train', 'val', 'test')
    }
    stats = channel_stats(feats['train'])
    dtype = torch.float32 if args.device == 'cpu' else torch.float16
    feats = {k: standardise(v, stats, dtype) for k, v in feats.items()}
    for lr, s in todo:
        t0 = time.time()
        head = train_probe(args, feats['train'], data['train'],
                           encoder.channels, lr, s)
        cell = dict(
            val=evaluate_indexed(
                probe_predictor(head, feats['val']), data['val']),
            test=evaluate_indexed(
                probe_predictor(head, feats['test']), data['test']),
            seconds=time.time() - t0)
        cells[cell_key(evaluation, label, lr, s)] = cell
        _atomic_json(out, results)
        log(f'{evaluation} {label} lr {lr:g} seed {s}: val IoU '
            f'{cell["val"]["IoU"]:.2f}, test IoU {cell["test"]["IoU"]:.2f} '
            f'({cell["seconds"]:.0f}s)')


def budget_curve(args, methods, checkpoints, data, cells, results, out,
                 log) -> dict:
    """Probe IoU against pre-training epochs, at the probe's chosen lr.

    Uses the intermediate checkpoints ``epoch_<E>.pth`` in
    ``WORK_DIR/pretrain/<method>/`` (the pre-training keeps one every
    quarter of the run) or ``WORK_DIR/budget/<method>/``, the final
    checkpoint, and random init as epoch 0.
    """
    lr = choose_lr(cells, 'probe', methods, args.probe_lrs)
    if lr is None:
        return {}
    curve = {}
    for m in methods:
        if m in RANDOM_INIT:
            continue
        points = {}
        for sub in ('pretrain', 'budget'):
            folder = osp.join(args.work_dir, sub, m)
            if osp.isdir(folder):
                for f in sorted(os.listdir(folder)):
                    if f.startswith('epoch_') and f.endswith('.pth'):
                        points.setdefault(int(f[6:-4]), osp.join(folder, f))
        for epoch, ckpt in sorted(points.items()):
            if epoch >= args.pretrain_epochs:
                continue
            run_probe_cells(args, m, ckpt, data, cells, results, out, log,
                            f'{m}@{epoch}', [lr], 'probe-budget')
        # epoch 0 is the random-init row of the method's encoder
        start = 'vit-random' if m in VIT_METHODS else 'random'
        rows = {} if start not in methods else {
            0:
            [cells.get(cell_key('probe', start, lr, s)) for s in args.seeds]
        }
        for epoch in sorted(points):
            if epoch < args.pretrain_epochs:
                rows[epoch] = [
                    cells.get(cell_key('probe-budget', f'{m}@{epoch}', lr, s))
                    for s in args.seeds
                ]
        rows[args.pretrain_epochs] = [
            cells.get(cell_key('probe', m, lr, s)) for s in args.seeds
        ]
        curve[m] = {
            str(e): [float(c['test']['IoU']) for c in runs if c]
            for e, runs in rows.items()
        }
    return dict(lr=lr, test_IoU=curve)


def run_ft_cell(args, item, checkpoints, data, cells, results, out, log):
    m, lr, s = item
    key = cell_key('finetune', m, lr, s)
    if key in cells:
        return
    t0 = time.time()
    val, test, curve = finetune(args, m, checkpoints[m], data, lr, s)
    cells[key] = dict(
        val=val, test=test, loss_curve=curve, seconds=time.time() - t0)
    _atomic_json(out, results)
    log(f'fine-tune {m} lr {lr:g} seed {s}: val IoU {val["IoU"]:.2f}, test '
        f'IoU {test["IoU"]:.2f} ({time.time() - t0:.0f}s)')


def pretrain_protocol(args) -> dict:
    """The settings a pre-trained checkpoint depends on."""
    keys = ('data_root', 'train_split', 'val_split', 'max_side', 'arch',
            'pretrain_epochs', 'pretrain_crop', 'pretrain_batch',
            'pretrain_lr', 'pretrain_seed', 'decoder_dim', 'decoder_heads')
    return {k: getattr(args, k) for k in keys}


def protocol(args) -> str:
    """The settings a cell's result depends on (resuming checks them)."""
    keys = ('data_root', 'train_split', 'val_split', 'test_split', 'max_side',
            'arch', 'pretrain_epochs', 'pretrain_crop', 'pretrain_batch',
            'pretrain_lr', 'pretrain_seed', 'decoder_dim', 'decoder_heads',
            'head_channels', 'probe_steps', 'probe_batch', 'probe_crop',
            'ft_backbone_lr_mult', 'ft_iters', 'ft_batch', 'ft_crop')
    settings = {k: getattr(args, k) for k in keys}
    # present only when used, so that earlier results files still resume
    if not args.val_split:
        settings['val_fraction'] = args.val_fraction
    if args.checkpoint:
        settings['checkpoint'] = sorted(args.checkpoint)
    return json.dumps(settings, sort_keys=True)


if __name__ == '__main__':
    main(sys.argv[1:])
