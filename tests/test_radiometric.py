"""FLIR radiometric JPEGs (R-JPEG) read as temperature maps.

The sample is a real file from a FLIR AX8 (tests/data/flir/ax8.jpg, MIT, see
tests/data/flir/LICENSE). Temperatures are checked against flyr's own reading
of the file and the camera's specified object temperature range (FLIR AX8
datasheet: -10 to +150 degrees Celsius).
"""
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from infmae_mm import curation
from infmae_mm.datasets.image_decoding import (ImageDecodeError,
                                               RadiometricReaderMissing,
                                               decode_thermal,
                                               is_flir_radiometric)
from infmae_mm.datasets.transforms.loading import (LoadThermalImage,
                                                   ThermalNormalize)

SAMPLE = osp.join(osp.dirname(__file__), 'data', 'flir', 'ax8.jpg')
#: FLIR AX8 object temperature range (datasheet), degrees Celsius.
AX8_RANGE = (-10.0, 150.0)


def _bytes(path=SAMPLE):
    with open(path, 'rb') as f:
        return f.read()


def test_detection_reads_only_flir_jpegs(tmp_path):
    assert is_flir_radiometric(_bytes())
    plain = cv2.imdecode(np.frombuffer(_bytes(), np.uint8), cv2.IMREAD_COLOR)
    ok, jpg = cv2.imencode('.jpg', plain)
    assert ok and not is_flir_radiometric(jpg.tobytes())
    ok, png = cv2.imencode('.png', plain)
    assert not is_flir_radiometric(png.tobytes())
    # The JPEG picture itself is still there for radiometric=False.
    picture = decode_thermal(_bytes(), radiometric=False)
    assert picture.dtype == np.uint8 and picture.ndim == 3


def test_temperatures_match_flyr_and_the_camera_range():
    flyr = pytest.importorskip('flyr')
    reference = flyr.unpack(SAMPLE)
    celsius = decode_thermal(_bytes())
    assert celsius.dtype == np.float32 and celsius.shape == (60, 80)
    np.testing.assert_allclose(celsius, reference.celsius, rtol=0, atol=1e-4)
    assert reference.camera_metadata.model == 'FLIR AX8'
    assert AX8_RANGE[0] <= celsius.min() < celsius.max() <= AX8_RANGE[1]
    # An indoor scene: room temperature, a spread of about a degree.
    assert 15 < float(np.median(celsius)) < 35
    assert 0.2 < float(celsius.max() - celsius.min()) < 10


def test_loader_maps_temperatures_like_16bit_input():
    flyr = pytest.importorskip('flyr')
    celsius = flyr.unpack(SAMPLE).celsius
    fixed = LoadThermalImage(
        mode='fixed', value_range=(20.0, 30.0))(
            dict(img_path=SAMPLE))
    expected = np.clip(np.rint((celsius - 20.0) * 25.5), 0, 255)
    assert fixed['img'].shape == (60, 80, 3)
    assert fixed['img_shape'] == fixed['ori_shape'] == (60, 80)
    for channel in range(3):
        np.testing.assert_array_equal(fixed['img'][..., channel], expected)
    stretched = LoadThermalImage(
        mode='percentile', to_channels=1)(dict(img_path=SAMPLE))['img']
    np.testing.assert_array_equal(
        stretched,
        ThermalNormalize('percentile').normalize(celsius))
    picture = LoadThermalImage(radiometric=False)(dict(img_path=SAMPLE))
    assert picture['img'].shape[:2] != (60, 80)  # the embedded picture


def test_missing_library_and_damaged_files_are_explained(
        tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_flyr(name, *args, **kwargs):
        if name == 'flyr':
            raise ImportError('no flyr here')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_flyr)
    with pytest.raises(RadiometricReaderMissing, match='pip install flyr'):
        LoadThermalImage()(dict(img_path=SAMPLE))
    monkeypatch.setattr(builtins, '__import__', real_import)

    data = _bytes()
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(data[:len(data) // 3])
    with pytest.raises(ImageDecodeError, match=str(truncated)):
        LoadThermalImage()(dict(img_path=str(truncated)))


def test_curation_measures_temperatures(tmp_path):
    pytest.importorskip('flyr')
    raw = tmp_path / 'raw'
    raw.mkdir()
    shutil.copy(SAMPLE, raw / 'ax8.jpg')
    analysis = curation.analyse_image(str(raw / 'ax8.jpg'))
    assert analysis.readable, analysis.error
    assert (analysis.width, analysis.height, analysis.dtype) == (80, 60,
                                                                 'float32')
    levels = curation.gray_levels(decode_thermal(_bytes()))
    assert analysis.entropy == pytest.approx(
        curation.information_entropy(levels))
    result = curation.curate([str(raw)],
                             str(tmp_path / 'out'),
                             transfer='copy',
                             crop_borders=True,
                             verbose=False)
    assert len(result.kept) == 1
    # Copied whole: the temperatures live in the file's metadata.
    assert (tmp_path / 'out' / 'images' / 'raw' / 'ax8.jpg').read_bytes() == \
        _bytes()
    assert result.statistics['bit_depth'] == {'float32': 1}
