"""Bad folder entries, non-finite pixels and unreadable R-JPEGs (issue 22)."""
import builtins
import logging
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

from infmae_mm import curation
from infmae_mm.datasets.image_decoding import ImageDecodeError
from infmae_mm.datasets.transforms import LoadThermalImage

FLIR_SAMPLE = osp.join(osp.dirname(__file__), 'data', 'flir', 'ax8.jpg')


@pytest.fixture
def log_messages():

    class Records(logging.Handler):

        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def gray(path: str, value: int = 0) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.full((16, 16), value, np.uint8))
    return path


def folder_dataset(root: str, **kwargs):
    init_default_scope('mmpretrain')
    kwargs.setdefault('pipeline', [])
    return DATASETS.build(
        dict(type='InfraredImageFolder', data_root=root, **kwargs))


def test_symlink_loops_and_bad_entries_are_skipped(tmp_path, log_messages):
    root = tmp_path / 'ir'
    gray(str(root / 'a' / 'x.png'))
    gray(str(root / 'a' / 'b' / 'y.png'))
    os.symlink('..', root / 'a' / 'b' / 'up')  # a loop back to a/
    os.symlink('self.png', root / 'a' / 'self.png')  # a link to itself
    os.symlink('gone.png', root / 'a' / 'dangling.png')
    dataset = folder_dataset(str(root))
    paths = [dataset.get_data_info(i)['img_path'] for i in range(2)]
    assert len(dataset) == 2
    assert [osp.relpath(p, root) for p in paths] == ['a/b/y.png', 'a/x.png']
    skipped = dataset.skipped_entries
    assert set(skipped) == {
        str(root / 'a' / 'b' / 'up'),
        str(root / 'a' / 'self.png'),
        str(root / 'a' / 'dangling.png')
    }
    assert 'already listed' in skipped[str(root / 'a' / 'b' / 'up')]
    assert 'symbolic links' in skipped[str(root / 'a' / 'self.png')]
    assert skipped[str(root / 'a' / 'dangling.png')] == 'broken symbolic link'
    warning, = [m for m in log_messages if 'Skipped 3 entries' in m]
    for path in skipped:
        assert path in warning


def test_linked_source_folders_are_listed_once(tmp_path):
    real = tmp_path / 'real'
    gray(str(real / 'z.png'))
    root = tmp_path / 'ir'
    root.mkdir()
    os.symlink(real, root / 'link1')
    os.symlink(real, root / 'link2')
    dataset = folder_dataset(str(root))
    assert len(dataset) == 1
    assert list(dataset.skipped_entries) == [str(root / 'link2')]


def test_labelled_folder_survives_a_loop(tmp_path):
    root = tmp_path / 'cls'
    gray(str(root / 'cat' / 'a.png'))
    gray(str(root / 'dog' / 'b.png'))
    os.symlink('..', root / 'dog' / 'loop')
    dataset = folder_dataset(str(root), with_label=True)
    assert dataset.metainfo['classes'] == ('cat', 'dog')
    assert [dataset.get_data_info(i)['gt_label'] for i in range(2)] == [0, 1]


def test_empty_folder_still_named(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No image found in'):
        folder_dataset(str(tmp_path / 'empty'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        folder_dataset(str(tmp_path / 'nowhere'))


def test_nonfinite_pixels_reported_and_mapped_by_the_rule(
        tmp_path, log_messages):
    """NaN and -inf become 0, +inf 255, the stretch uses the finite pixels;
    each file is named once with its counts; an all-NaN image is refused."""
    img = np.tile(np.linspace(10., 20., 16, dtype=np.float32), (16, 1))
    img[0, 0], img[0, 1], img[0, 2] = np.nan, np.inf, -np.inf
    img[1, 0] = np.nan
    path = str(tmp_path / 'temps.tiff')
    assert cv2.imwrite(path, img)
    load = LoadThermalImage(mode='percentile', percentiles=(0, 100))
    out = load(dict(img_path=path))['img'][..., 0]
    assert (out[0, 0], out[0, 1], out[0, 2], out[1, 0]) == (0, 255, 0, 0)
    # The finite pixels span 0-255 exactly as if the bad ones were absent.
    assert out[2, 0] == 0 and out[2, -1] == 255
    assert out[2, 8] == np.rint((img[2, 8] - 10.) / 10. * 255)
    load(dict(img_path=path))  # the same file: not reported again
    reports = [m for m in log_messages if 'non-finite pixels' in m]
    assert len(reports) == 1
    assert path in reports[0] and '2 NaN, 1 +inf, 1 -inf of 256 pixels' in \
        reports[0] and 'NaN and -inf pixels become 0' in reports[0]
    # 'fixed' follows the same rule.
    fixed = LoadThermalImage(mode='fixed', value_range=(10, 20))
    out = fixed(dict(img_path=path))['img'][..., 0]
    assert (out[0, 0], out[0, 1], out[0, 2]) == (0, 255, 0)

    nan_path = str(tmp_path / 'dead.tiff')
    cv2.imwrite(nan_path, np.full((8, 8), np.nan, np.float32))
    with pytest.raises(ImageDecodeError, match='no finite pixel'):
        load(dict(img_path=nan_path))


def test_pretraining_skips_an_all_nan_image(tmp_path):
    root = tmp_path / 'ir'
    root.mkdir()
    cv2.imwrite(str(root / 'a.tiff'), np.full((8, 8), np.nan, np.float32))
    gray(str(root / 'b.png'), 7)
    dataset = folder_dataset(
        str(root), pipeline=[dict(type='LoadThermalImage', mode='percentile')])
    assert int(dataset[0]['img'][0, 0, 0]) == 7  # a.tiff -> the next image
    assert 'no finite pixel' in dataset.skipped_files[str(root / 'a.tiff')]


def test_curation_drops_unreadable_rjpeg_per_file(tmp_path, monkeypatch):
    """Without flyr a FLIR radiometric JPEG is dropped with the reason; the
    other images are still curated."""
    raw = tmp_path / 'raw'
    raw.mkdir()
    shutil.copy(FLIR_SAMPLE, raw / 'ax8.jpg')
    cv2.imwrite(
        str(raw / 'plain.png'),
        np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))
    real_import = builtins.__import__

    def no_flyr(name, *args, **kwargs):
        if name == 'flyr':
            raise ImportError('no flyr here')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_flyr)
    result = curation.curate([str(raw)], str(tmp_path / 'out'), verbose=False)
    kept = [osp.basename(d.image.path) for d in result.kept]
    dropped = {
        osp.basename(d.image.path): d
        for d in result.decisions if not d.kept
    }
    assert kept == ['plain.png']
    assert dropped['ax8.jpg'].reason == curation.UNREADABLE
    assert 'pip install flyr' in dropped['ax8.jpg'].analysis.error
    report = (tmp_path / 'out' / 'curation_report.csv').read_text()
    assert 'pip install flyr' in report
