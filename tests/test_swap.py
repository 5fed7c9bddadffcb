"""The documented backbone swaps, applied to the hosts' own stock configs.

Each block of ``docs/en/user_guides/swap_backbone.md`` marked
``<!-- swap-test: NAME -->`` is written to a config file verbatim; the test
changes only what a user changes for another arch (``arch='base'`` and the
base widths of the arch table -> nano's), points the ``Pretrained``
checkpoint at a generated pre-training checkpoint and the dataloader at
generated data of the host's own dataset type, then trains a few iterations
with the host's Runner (in process). It checks that the loss is finite and
that the deepest backbone weights moved (gradients crossed the whole
network).
"""
import json
import os
import os.path as osp
import re
import uuid
from typing import Callable, Dict, Tuple

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from infmae_mm.models import InfMAEViT
from infmae_mm.testing import make_ir_image, make_ir_scene

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The docs page that holds the swap snippets and the arch width table.
SWAP_DOC = osp.join(REPO, 'docs', 'en', 'user_guides', 'swap_backbone.md')

#: What a user edits in a base-arch snippet to use nano: the arch and each
#: base width of the docs page's arch table.
NANO = {
    "arch='base'": "arch='nano'",
    '[256, 384, 768, 768]': '[32, 48, 64, 64]',
    'c1_in_channels=256': 'c1_in_channels=32',
    'in_channels=768': 'in_channels=64',
    'in_channels=384': 'in_channels=48',
}


def readme_snippet(name: str) -> str:
    """The python block that follows ``<!-- swap-test: name -->``."""
    with open(SWAP_DOC, encoding='utf-8') as f:
        text = f.read()
    match = re.search(
        rf'<!-- swap-test: {re.escape(name)} -->\s*```python\n(.*?)```', text,
        re.S)
    assert match, f'{SWAP_DOC} has no swap-test block {name!r}'
    return match.group(1)


def nano_snippet(name: str, checkpoint: str) -> str:
    """The documented block as a user adapts it: nano widths, a checkpoint."""
    snippet = readme_snippet(name)
    assert "arch='base'" in snippet
    for old, new in NANO.items():
        snippet = snippet.replace(old, new)
    assert 'checkpoints/infmae_b.pth' in snippet
    return snippet.replace('checkpoints/infmae_b.pth', checkpoint)


def pretrain_checkpoint(path: str) -> str:
    """An infmae_mm pre-training checkpoint of a nano encoder."""
    torch.manual_seed(0)
    encoder = InfMAEViT(arch='nano')
    state = {f'backbone.{k}': v for k, v in encoder.state_dict().items()}
    torch.save({'state_dict': state, 'meta': {}}, path)
    return path


def hot_box(img: np.ndarray, rng: np.random.Generator) -> Tuple[int, ...]:
    """Draw a warm rectangle (a person-like target) and return its box."""
    h, w = img.shape
    bw, bh = int(rng.integers(8, 16)), int(rng.integers(16, 28))
    x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
    img[y1:y1 + bh, x1:x1 + bw] = np.maximum(img[y1:y1 + bh, x1:x1 + bw], 220)
    return x1, y1, x1 + bw, y1 + bh


def coco_data(root: str) -> str:
    """Mmdet's CocoDataset layout: images and a COCO json (person, car)."""
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(root, 'images'))
    images, annotations = [], []
    for i in range(4):
        img = make_ir_image(rng, 64, 64)
        boxes = [hot_box(img, rng) for _ in range(2)]
        cv2.imwrite(osp.join(root, 'images', f'{i}.png'), img)
        images.append(dict(id=i, file_name=f'{i}.png', width=64, height=64))
        for j, (x1, y1, x2, y2) in enumerate(boxes):
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=i,
                    category_id=(1, 3)[j],
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1),
                    iscrowd=0))
    with open(osp.join(root, 'train.json'), 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=annotations,
                categories=[dict(id=1, name='person'),
                            dict(id=3, name='car')]), f)
    return f"""
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(
        data_root={root!r}, ann_file='train.json',
        data_prefix=dict(img='images/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(32, 32), keep_ratio=True),
            dict(type='PackDetInputs')]))
"""


def cityscapes_data(root: str) -> str:
    """Mmseg's CityscapesDataset layout from generated street scenes."""
    rng = np.random.default_rng(0)
    img_dir = osp.join(root, 'leftImg8bit', 'train', 'town')
    ann_dir = osp.join(root, 'gtFine', 'train', 'town')
    os.makedirs(img_dir)
    os.makedirs(ann_dir)
    for i in range(4):
        img, label, _ = make_ir_scene(rng, 64, 96)
        cv2.imwrite(osp.join(img_dir, f'{i}_leftImg8bit.png'), img)
        cv2.imwrite(osp.join(ann_dir, f'{i}_gtFine_labelTrainIds.png'), label)
    return f"""
model = dict(data_preprocessor=dict(size=(32, 32)))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(
        data_root={root!r},
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='RandomCrop', crop_size=(32, 32)),
            dict(type='PackSegInputs')]))
"""


def class_folder_data(root: str) -> str:
    """Mmpretrain's CustomDataset layout: one folder per class."""
    rng = np.random.default_rng(0)
    for cls, kind in (('clouds', 'clouds'), ('street', 'street')):
        os.makedirs(osp.join(root, cls))
        for i in range(3):
            cv2.imwrite(
                osp.join(root, cls, f'{i}.png'),
                make_ir_image(rng, 72, 72, kind=kind))
    return f"""
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(
        _delete_=True, type='CustomDataset', data_root={root!r},
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=32),
            dict(type='PackInputs')]))
"""


#: A short in-process run: no validation, testing or checkpoints.
SHORT_RUN = """
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=3)
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
param_scheduler = []
default_hooks = dict(
    checkpoint=None, logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
"""

SWAPS: Dict[str, Callable[[str], str]] = {
    'mmdet-two-stage': coco_data,
    'mmdet-one-stage': coco_data,
    'mmseg-deeplabv3plus': cityscapes_data,
    'mmpretrain-resnet': class_folder_data,
    'mmpretrain-vit': class_folder_data,
}


@pytest.fixture(autouse=True)
def keep_default_scope():
    """A Runner makes its config's scope the process default: give later tests
    back the scope they had."""
    before = DefaultScope.get_current_instance()
    yield
    if before is not None and (DefaultScope.get_current_instance()
                               is not before):
        DefaultScope.get_instance(
            f'after-test-swap-{uuid.uuid4().hex}',
            scope_name=before.scope_name)


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(SWAPS))
def test_readme_swap_trains_on_the_host_config(name, tmp_path):
    ckpt = pretrain_checkpoint(str(tmp_path / 'infmae_nano.pth'))
    swap = tmp_path / 'swap.py'
    swap.write_text(nano_snippet(name, ckpt))
    data = SWAPS[name](str(tmp_path / 'data'))
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(f"_base_ = ['./swap.py']\n{data}{SHORT_RUN}")
    cfg = Config.fromfile(str(leaf))
    cfg.work_dir = str(tmp_path / 'work')
    # A unique name: mmengine keys the Runner's DefaultScope by experiment
    # name (config name + timestamp to the second), and two runs within one
    # second would share the first run's scope.
    cfg.experiment_name = f'swap-{name}-{uuid.uuid4().hex}'

    runner = Runner.from_cfg(cfg)
    backbone = runner.model.backbone
    assert type(backbone).__name__ == 'InfMAEViT'
    runner.train()
    assert runner.iter == 3
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss), f'{name}: loss {loss}'
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    assert 'InfMAEViT: loaded' in log and ckpt in log, \
        f'{name}: the Pretrained init_cfg did not load the checkpoint'
    start = torch.load(
        ckpt)['state_dict']['backbone.patch_embed1.projection.weight']
    stem = backbone.patch_embed1.projection.weight.detach().cpu()
    assert not torch.equal(stem, start), \
        f'{name}: the stem did not train (no gradient through the network?)'


def test_docs_width_table_matches_the_arch_zoo():
    with open(SWAP_DOC, encoding='utf-8') as f:
        rows = re.findall(
            r'^\| `(\w+)` \| (\d+) \| (\d+) \| (\d+) \| ([\d, ]+) '
            r'\| ([\d.]+) M \|$', f.read(), re.M)
    assert [r[0] for r in rows] == ['nano', 'tiny', 'small', 'base', 'large']
    for arch, c1, c2, c3, pyramid, params in rows:
        dims = InfMAEViT.arch_zoo[arch]['embed_dims']
        assert (int(c1), int(c2), int(c3)) == tuple(dims), arch
        assert [int(c) for c in pyramid.split(',')] == [*dims, dims[2]]
        if arch in ('nano', 'tiny', 'base'):
            count = sum(p.numel() for p in InfMAEViT(arch=arch).parameters())
            assert abs(count / 1e6 - float(params)) < 0.05, arch
