"""A damaged or foreign checkpoint file gives an error naming the file.

torch alone answers a truncated file with ``PytorchStreamReader failed
reading zip archive: failed finding central directory`` and no file name;
``safe_load_checkpoint`` (and so every tool of the package) names the file,
its size and what is wrong.
"""
import os
import pickle
import zipfile

import pytest
import torch
import torch.nn as nn

from infmae_mm.utils.checkpoint import (CheckpointFileError,
                                        load_checkpoint_to_model,
                                        safe_load_checkpoint)


def saved(tmp_path, name='model.pth', **kwargs):
    path = str(tmp_path / name)
    torch.save({'state_dict': nn.Linear(8, 4).state_dict()}, path, **kwargs)
    return path


def truncate(path, keep):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])
    return len(data)


@pytest.mark.parametrize('keep', [0.5, 0.9, 0.99])
def test_truncated_zip_checkpoint_names_the_file(tmp_path, keep):
    path = saved(tmp_path)
    size = truncate(path, keep)
    # What torch says without the check: no file name.
    with pytest.raises(RuntimeError, match='PytorchStreamReader') as raw:
        torch.load(path)
    assert path not in str(raw.value)
    with pytest.raises(CheckpointFileError) as err:
        safe_load_checkpoint(path)
    message = str(err.value)
    assert path in message and 'truncated' in message
    assert f'{int(size * keep)} bytes' in message


def test_truncated_legacy_checkpoint_names_the_file(tmp_path):
    path = saved(tmp_path, _use_new_zipfile_serialization=False)
    assert safe_load_checkpoint(path)['state_dict']['weight'].shape == (4, 8)
    truncate(path, 0.5)
    with pytest.raises(CheckpointFileError, match='could not be') as err:
        safe_load_checkpoint(path)
    assert path in str(err.value)


@pytest.mark.parametrize('content, what', [
    (b'', 'is empty'),
    (b'<!DOCTYPE html><html><body>Not Found</body></html>', 'HTML'),
    (b'\x93NUMPY\x01\x00v\x00{"descr": "<f4"}', 'numpy'),
    ((24).to_bytes(8, 'little') + b'{"w": {"dtype": "F32"}}', 'safetensors'),
    (b'{"state_dict": {}}', 'JSON'),
    (b'plain text, not a checkpoint', 'not a torch checkpoint'),
])
def test_foreign_file_names_the_file_and_what_it_is(tmp_path, content, what):
    path = str(tmp_path / 'weights.pth')
    with open(path, 'wb') as f:
        f.write(content)
    with pytest.raises(CheckpointFileError, match=what) as err:
        safe_load_checkpoint(path)
    assert path in str(err.value)


def test_zip_that_is_not_a_torch_checkpoint(tmp_path):
    path = str(tmp_path / 'images.pth')
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('readme.txt', 'not a checkpoint')
    with pytest.raises(CheckpointFileError, match='no <name>/data.pkl') as err:
        safe_load_checkpoint(path)
    assert path in str(err.value) and 'readme.txt' in str(err.value)


def test_missing_file_and_directory(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError) as err:
        safe_load_checkpoint(missing)
    assert missing in str(err.value)
    with pytest.raises(IsADirectoryError) as err:
        safe_load_checkpoint(str(tmp_path))
    assert str(tmp_path) in str(err.value)


def test_model_loader_reports_the_file(tmp_path):
    path = saved(tmp_path)
    truncate(path, 0.5)
    with pytest.raises(CheckpointFileError, match='truncated') as err:
        load_checkpoint_to_model(nn.Linear(8, 4), path)
    assert path in str(err.value)


def test_refused_global_is_not_reported_as_damage(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'f': os.getcwd}, path)
    with pytest.raises(pickle.UnpicklingError, match='Refusing') as err:
        safe_load_checkpoint(path)
    assert not isinstance(err.value, CheckpointFileError)


def test_intact_checkpoint_loads(tmp_path):
    path = saved(tmp_path)
    weights = safe_load_checkpoint(path)['state_dict']
    assert set(weights) == {'weight', 'bias'}
