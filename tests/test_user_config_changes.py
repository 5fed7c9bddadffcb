"""Configs fail where the user's change is (issue 22, item 5).

The demo config run on your own folder (``--cfg-options
train_dataloader.dataset.data_root=...``) still names the demo's held-out
folder: held-out validation is skipped with a logged warning naming it and
``val_dataloader.dataset.data_root``, instead of stopping the run with an
error that says to set ``train_dataloader``. Errors of a held-out or test
folder that is there but unusable name their own loader's key.
"""
import logging
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from infmae_mm.datasets import InfraredImageFolder
from infmae_mm.engine import HeldoutValLoop, missing_data_path
from infmae_mm.testing import tiny_arch_options, write_pretrain_folder

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs', 'pretrain',
                'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')


def test_missing_data_path_joins_as_the_dataset_does(tmp_path):
    root = str(tmp_path)
    os.makedirs(osp.join(root, 'imgs'))
    assert missing_data_path(dict(data_root=root)) is None
    assert missing_data_path(dict(data_root=root, data_prefix='imgs')) is None
    assert missing_data_path(dict(data_root=root,
                                  data_prefix='nope')) == osp.join(
                                      root, 'nope')
    assert missing_data_path(
        dict(data_root=root,
             data_prefix=dict(img_path='nope'))) == osp.join(root, 'nope')
    assert missing_data_path(dict(data_root=osp.join(root, 'absent'))) == \
        osp.join(root, 'absent', '')
    # An image list is checked instead of the folder when it is set.
    assert missing_data_path(dict(data_root=root,
                                  ann_file='list.txt')) == osp.join(
                                      root, 'list.txt')
    (tmp_path / 'list.txt').write_text('a.png\n')
    assert missing_data_path(dict(data_root=root, ann_file='list.txt')) is None
    # Wrappers are looked into; remote paths are not checked.
    assert missing_data_path(
        dict(type='RepeatDataset', dataset=dict(data_root=root + '/x'))) == \
        osp.join(root + '/x', '')
    assert missing_data_path(dict(data_root='s3://bucket/heldout/')) is None


def demo_cfg(tmp_path, **options):
    """The demo config on a generated folder of the user's, nano-sized, one
    epoch with a validation after it."""
    train = str(tmp_path / 'my_images')
    write_pretrain_folder(train, num_images=4, size=(64, 64), seed=0)
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(tiny_arch_options(cfg))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': train,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'work_dir': str(tmp_path / 'work'),
        'default_hooks.checkpoint.interval': 1,
        **options
    })
    # 64x64 crops: a CPU-sized step.
    for step in cfg.train_dataloader.dataset.pipeline:
        if step['type'] == 'RandomResizedCrop':
            step['scale'] = 64
    return cfg


def test_demo_on_your_folder_skips_the_absent_heldout_folder(
        tmp_path, monkeypatch):
    cfg = demo_cfg(tmp_path)
    assert cfg.val_dataloader.dataset.data_root == 'data/ir_sample_heldout/'
    # run where the relative held-out folder is absent (after `make demo`
    # the repository has one)
    monkeypatch.chdir(tmp_path)
    assert not osp.exists('data/ir_sample_heldout')
    runner = Runner.from_cfg(cfg)
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        runner.train()
    finally:
        logger.removeHandler(handler)
    loop = runner.val_loop
    assert isinstance(loop, HeldoutValLoop)
    assert loop.skipped and loop.run() == {}
    warnings = [
        r.getMessage() for r in records if r.levelno == logging.WARNING
        and 'Held-out validation is skipped' in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    for part in ('data/ir_sample_heldout/', 'val_dataloader.dataset.data_root',
                 'val_cfg.skip_if_missing=False'):
        assert part in warnings[0], (part, warnings[0])
    assert 'train_dataloader' not in warnings[0]
    # Training ran to its end and saved its checkpoint.
    assert runner.iter == 1
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))


def test_absent_heldout_folder_is_an_error_naming_val_when_asked(
        tmp_path, monkeypatch):
    cfg = demo_cfg(tmp_path, **{'val_cfg.skip_if_missing': False})
    monkeypatch.chdir(tmp_path)  # where the relative folder is absent
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FileNotFoundError) as err:
        runner.train()
    msg = str(err.value)
    assert 'data/ir_sample_heldout/' in msg
    assert 'val_dataloader.dataset.data_root' in msg
    assert 'train_dataloader' not in msg


def test_an_empty_heldout_folder_is_not_skipped_and_names_val(tmp_path):
    empty = tmp_path / 'heldout'
    empty.mkdir()
    cfg = demo_cfg(tmp_path,
                   **{'val_dataloader.dataset.data_root': str(empty)})
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FileNotFoundError) as err:
        runner.train()
    msg = str(err.value)
    assert 'No image found' in msg and str(empty) in msg
    assert 'val_dataloader.dataset.data_root' in msg
    assert 'val_dataloader.dataset.extensions' in msg


def test_test_and_training_folders_name_their_own_loader(tmp_path):
    cfg = Config.fromfile(DEMO)
    assert cfg.test_dataloader.dataset.config_key == 'test_dataloader.dataset'
    with pytest.raises(
            FileNotFoundError, match='test_dataloader.dataset.data_root'):
        InfraredImageFolder(
            data_root=str(tmp_path / 'absent'),
            config_key=cfg.test_dataloader.dataset.config_key)
    with pytest.raises(
            FileNotFoundError, match='train_dataloader.dataset.data_root'):
        InfraredImageFolder(data_root=str(tmp_path / 'absent'))
    (tmp_path / 'empty.txt').write_text('')
    with pytest.raises(
            ValueError, match=r"val_dataloader.dataset.ann_file=''"):
        InfraredImageFolder(
            data_root=str(tmp_path),
            ann_file='empty.txt',
            config_key='val_dataloader.dataset')


# ------------------------------------------ from scratch and back (item 5)
FINETUNE_DOC = osp.join(REPO, 'docs', 'en', 'user_guides', 'finetune.md')


def documented_override(name):
    """The ``--cfg-options`` of the docs' block marked ``<!-- init-cfg-
    override: NAME -->``, parsed as the tools parse them."""
    import argparse
    import re
    import shlex

    from mmengine.config import DictAction
    with open(FINETUNE_DOC, encoding='utf-8') as f:
        page = f.read()
    block = re.search(
        rf'<!-- init-cfg-override: {name} -->\n```bash\n(.*?)```', page, re.S)
    assert block, f'finetune.md lost its {name!r} override'
    words = shlex.split(block.group(1).replace('\\\n', ' '))
    assert words[0] == '--cfg-options'
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(words).cfg_options


FINETUNE_CONFIGS = [
    'seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py',
    'seg/unip_vit-small-p16-llfpn_upernet_2xb4-amp-14k_soda-512x512.py',
    'det/mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py',
    'irstd/irstd-head_infmae-base_1xb2-40k_irstd1k-512x512.py',
    'cls/infmae_vit-base-p16_inf30-pre_8xb128-coslr-100e_in1k-gray.py',
]


@pytest.mark.parametrize('config', FINETUNE_CONFIGS)
def test_documented_init_cfg_overrides_switch_both_ways(config, tmp_path):
    path = osp.join(REPO, 'configs', config)
    ckpt = 'work_dirs/pretrain/epoch_400.pth'
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(documented_override('checkpoint'))
    assert cfg.model.backbone.init_cfg.checkpoint == ckpt
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    # From scratch, written into a config of the user's.
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(documented_override('scratch'))
    assert cfg.model.backbone.init_cfg is None
    scratch = str(tmp_path / 'from_scratch.py')
    cfg.dump(scratch)
    cfg = Config.fromfile(scratch)
    # What a user tries first fails in mmengine, as the docs say...
    with pytest.raises(TypeError, match='NoneType'):
        cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': ckpt})
    # ... and the documented override switches it back.
    cfg = Config.fromfile(scratch)
    cfg.merge_from_dict(documented_override('back-to-checkpoint'))
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint=ckpt, prefix='backbone.')


def test_back_to_checkpoint_really_loads_the_checkpoint(tmp_path):
    """The switched-back backbone reads the named file (here absent, so its
    loader says so) instead of initialising itself silently."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', FINETUNE_CONFIGS[0]))
    cfg.merge_from_dict(documented_override('scratch'))
    scratch = str(tmp_path / 'from_scratch.py')
    cfg.dump(scratch)
    cfg = Config.fromfile(scratch)
    cfg.merge_from_dict(documented_override('back-to-checkpoint'))
    init_default_scope('mmseg')
    backbone = dict(cfg.model.backbone, arch='nano', img_size=(64, 64))
    model = MODELS.build(backbone)
    with pytest.raises(
            FileNotFoundError, match='work_dirs/pretrain/epoch_400.pth'):
        model.init_weights()
