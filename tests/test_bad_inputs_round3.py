"""Bad inputs, third round (issue 22, "a fresh round of bad inputs").

One test per case that the round found unclear, silent or crashing; each feeds
the input a new user gave and asserts the error type and that the message names
the problem and the option, key or file that fixes it (or the stated, logged
recovery).
"""
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from tests.host_tools import REPO, load_tool

DEMO_CFG = osp.join(
    REPO, 'configs/pretrain/infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')


# ------------------------------------------------------------ tools
def test_get_flops_names_the_shape_the_model_refuses(monkeypatch, capsys):
    """A side that is not a multiple of 16 used to fail inside the tracer with
    'expects a (B, C, H, W) batch, got shape (tensor(3), ...)'; a pre-training
    config failed so at any size (unbatched inputs)."""
    tool = load_tool('tools/analysis_tools/get_flops.py')
    options = [
        '--cfg-options', 'model.backbone.arch=nano', 'model.neck.embed_dim=64'
    ]
    for shape, words in ((['100',
                           '100'], ['--shape 100 100', 'multiples of '
                                    '16']), (['0', '0'], ['--shape'])):
        monkeypatch.setattr(sys, 'argv',
                            ['get_flops.py', DEMO_CFG, '--shape', *shape] +
                            options)
        with pytest.raises(SystemExit) as err:
            tool.main()
        for word in words:
            assert word in str(err.value.code), err.value.code
    monkeypatch.setattr(sys, 'argv',
                        ['get_flops.py', DEMO_CFG, '--shape', '64'] + options)
    tool.main()
    assert 'Flops:' in capsys.readouterr().out


@pytest.mark.parametrize('path, argv', [
    ('tools/analysis_tools/eval_reconstruction.py', [DEMO_CFG, 'x.pth']),
    ('tools/visualization/show_reconstruction.py', [DEMO_CFG, 'x.pth']),
    ('tools/visualization/show_masks.py', []),
])
def test_heldout_tools_refuse_num_zero(capsys, path, argv):
    """--num 0 used to end in a traceback ('No images were measured.',
    'make_grid needs at least one cell')."""
    tool = load_tool(path)
    with pytest.raises(SystemExit) as err:
        tool.parse_args(argv + ['--images', '.', '--num', '0'])
    assert err.value.code == 2
    assert '--num must be >= 1' in capsys.readouterr().err


def test_attention_nmi_names_its_size_option_and_unreadable_file(
        tmp_path, capsys):
    """--img-size 50 used to fail in the model, telling the user to fix
    the data pipeline; an unreadable image ended in a traceback."""
    tool = load_tool('tools/analysis_tools/attention_nmi.py')
    with pytest.raises(SystemExit) as err:
        tool.parse_args(
            [DEMO_CFG, 'x.pth', '--images', '.', '--img-size', '50'])
    assert err.value.code == 2
    assert '--img-size must be a positive multiple of 16' in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(
            [DEMO_CFG, 'x.pth', '--images', '.', '--num-images', '0'])
    assert '--num-images must be >= 1' in capsys.readouterr().err
    bad = tmp_path / 'frames' / 'a.png'
    bad.parent.mkdir()
    bad.write_text('not an image')
    with pytest.raises(SystemExit) as err:
        tool.load_images(str(bad.parent), 4, 32, [0.] * 3, [1.] * 3)
    assert str(bad) in str(err.value.code)


def test_curation_that_keeps_no_image_fails(tmp_path, capsys):
    """A folder of files that are not images wrote an empty manifest and exited
    0; training on it failed later."""
    tool = load_tool('tools/data/curate_pretrain_data.py')
    raw = tmp_path / 'raw'
    raw.mkdir()
    (raw / 'a.png').write_text('not an image')
    (raw / 'b.jpg').write_bytes(b'')
    out = tmp_path / 'out'
    assert tool.main([str(raw), '--out', str(out), '--quiet']) == 1
    err = capsys.readouterr().err
    assert 'no image was kept' in err and '2 unreadable' in err
    assert str(out / 'curation_report.csv') in err


def test_generate_sample_data_refuses_sizes_it_cannot_draw(capsys):
    """--size 8 8 passed the check and failed inside numpy (pretrain,
    irstd: 'high - low < 0')."""
    tool = load_tool('tools/data/generate_sample_data.py')
    for kind in ('pretrain', 'irstd'):
        with pytest.raises(SystemExit) as err:
            tool.parse_args([kind, 'out', '--size', '8', '8'])
        assert err.value.code == 2
        assert '--size must be at least 16 16' in capsys.readouterr().err


def test_official_converter_names_an_infmae_mm_checkpoint(tmp_path):
    """A checkpoint of this package (or of another model) given to the official
    converter ended in a KeyError traceback of 157 keys."""
    tool = load_tool('tools/model_converters/infmae_official_to_mm.py')
    mm = tmp_path / 'epoch_1.pth'
    torch.save(
        dict(
            state_dict={
                'backbone.patch_embed1.projection.weight': torch.zeros(2),
                'neck.mask_token': torch.zeros(2)
            }), mm)
    other = tmp_path / 'other.pth'
    torch.save(dict(model={'fc.weight': torch.zeros(2)}), other)
    dst = tmp_path / 'out.pth'
    for src, words in ((mm, [
            'already an infmae_mm checkpoint',
            'model.backbone.init_cfg.checkpoint'
    ]), (other, ['not an official InfMAE checkpoint', 'fc.weight'])):
        sys_argv = sys.argv
        sys.argv = ['infmae_official_to_mm.py', str(src), str(dst)]
        try:
            with pytest.raises(SystemExit) as err:
                tool.main()
        finally:
            sys.argv = sys_argv
        message = str(err.value.code)
        assert str(src) in message
        for word in words:
            assert word in message, message
    assert not dst.exists()


# ------------------------------------------------------------ datasets
def test_irstd_empty_split_and_empty_folder_are_named(tmp_path):
    """An empty split file failed with numpy's 'need at least one array to
    concatenate'; so did a folder without images of img_suffix."""
    from infmae_mm.datasets import IRSTD1kDataset
    from infmae_mm.testing import write_irstd_like
    write_irstd_like(str(tmp_path), num_trainval=2, num_test=1, size=(32, 32))
    (tmp_path / 'empty.txt').write_text('\n\n')
    with pytest.raises(ValueError) as err:
        IRSTD1kDataset(data_root=str(tmp_path), ann_file='empty.txt')
    msg = str(err.value)
    assert str(tmp_path / 'empty.txt') in msg and 'lists no stem' in msg
    assert 'ann_file' in msg
    with pytest.raises(FileNotFoundError) as err:
        IRSTD1kDataset(data_root=str(tmp_path), img_suffix='.bmp')
    assert "img_suffix (now '.bmp')" in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        IRSTD1kDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path='imgs', seg_map_path='masks'))
    assert str(tmp_path / 'imgs') in str(err.value)
    assert 'data_prefix.img_path' in str(err.value)


def test_msrs_missing_folder_names_the_keys(tmp_path):
    """A wrong data_root gave mmseg's bare '[Errno 2] No such file or
    directory' of the folder."""
    from infmae_mm.datasets import MSRSInfDataset
    with pytest.raises(FileNotFoundError) as err:
        MSRSInfDataset(
            data_root=str(tmp_path / 'MSRS'),
            data_prefix=dict(
                img_path='train/ir', seg_map_path='train/Segmentation_labels'))
    msg = str(err.value)
    assert str(tmp_path / 'MSRS' / 'train' / 'ir') in msg
    assert 'data_root' in msg and 'data_prefix.img_path' in msg


def test_image_list_blank_lines_and_missing_files(tmp_path, warnings_logged):
    """A blank line of a manifest became the folder itself as an image, and
    listed files that do not exist were met only during training ('1 images in
    a row could not be read')."""
    from infmae_mm.datasets import InfraredImageFolder
    from infmae_mm.testing import write_pretrain_folder
    paths = write_pretrain_folder(
        str(tmp_path), num_images=2, size=(32, 32), seed=0)
    rel = [osp.relpath(p, tmp_path) for p in paths]
    (tmp_path / 'mixed.txt').write_text(f'{rel[0]}\n\n  \nnothere.png\n'
                                        f'{rel[1]}\n')
    ds = InfraredImageFolder(data_root=str(tmp_path), ann_file='mixed.txt')
    listed = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert sorted(listed) == sorted(paths)
    said = [w for w in warnings_logged() if 'do not exist' in w]
    assert len(said) == 1 and 'nothere.png' in said[0]
    assert '1 of the 3 images' in said[0]
    with pytest.raises(FileNotFoundError, match='skip_unreadable'):
        InfraredImageFolder(
            data_root=str(tmp_path),
            ann_file='mixed.txt',
            skip_unreadable=False)
    # A list written for another folder: nothing exists.
    (tmp_path / 'other.txt').write_text('a/x.png\nb/y.png\n')
    with pytest.raises(FileNotFoundError) as err:
        InfraredImageFolder(
            data_root=str(tmp_path),
            ann_file='other.txt',
            config_key='train_dataloader.dataset')
    msg = str(err.value)
    assert 'None of the 2 images listed' in msg
    assert 'train_dataloader.dataset.data_root' in msg
    # Only blank lines: the empty-list error, not the folder as an image.
    (tmp_path / 'blank.txt').write_text('\n \n')
    with pytest.raises(ValueError, match='is empty'):
        InfraredImageFolder(data_root=str(tmp_path), ann_file='blank.txt')


def test_convert_to_gray_refuses_an_empty_image():
    """FeatureExtractor on a (0, 0) array failed in mmpretrain's ResizeEdge
    with ZeroDivisionError."""
    from infmae_mm.datasets import ConvertToGray
    for img in (np.zeros((0, 0), np.uint8), np.zeros((0, 5, 3), np.float32)):
        with pytest.raises(ValueError, match='is empty'):
            ConvertToGray()(dict(img=img))
