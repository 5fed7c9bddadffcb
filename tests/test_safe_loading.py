"""Checkpoints load without unpickling arbitrary objects, on every torch.

torch >= 2.6 loads with ``weights_only=True`` by default and refuses what an
mmengine training checkpoint holds besides tensors (HistoryBuffer, numpy);
``allow_checkpoint_globals`` allow-lists exactly that. The installed torch
(2.1) cannot run the real thing, so besides a test that runs there (skipped
here), the allow-list is checked against an emulation of torch 2.6's rules
written for this test: globals resolve only from the allow-list, and only
allowed callables may be called, allowed classes created and their
instances' state restored.
"""
import ast
import codecs
import collections
import glob
import os.path as osp
import pickle
import pickletools
import types
import zipfile

import _compat_pickle
import pytest
import torch
from mmengine.logging import HistoryBuffer

from infmae_mm.utils import checkpoint as ckpt_utils
from infmae_mm.utils.checkpoint import (allow_checkpoint_globals,
                                        load_checkpoint_to_model,
                                        safe_load_checkpoint,
                                        weights_only_allow_list)
from tests.test_resume import AtomicCheckpointHook, ToyModel, toy_runner

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TORCH_2_6 = ckpt_utils._torch_version() >= (2, 6)


@pytest.fixture(scope='module')
def mmengine_checkpoint(tmp_path_factory):
    """A checkpoint saved by mmengine's Runner after a short training."""
    work = tmp_path_factory.mktemp('mmengine_ckpt')
    toy_runner(work, AtomicCheckpointHook, max_epochs=1).train()
    return str(work / 'epoch_1.pth')


def pickled_globals(path):
    """'module.name' of every GLOBAL in a torch zip checkpoint."""
    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))
    names = set()
    for op, arg, _ in pickletools.genops(data):
        if op.name == 'GLOBAL':
            module, name = arg.split(' ')
            module, name = _compat_pickle.NAME_MAPPING.get((module, name),
                                                           (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            names.add(f'{module}.{name}')
    return names


def test_the_checkpoint_holds_more_than_tensors(mmengine_checkpoint):
    names = pickled_globals(mmengine_checkpoint)
    assert {
        'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr',
        'numpy.core.multiarray._reconstruct', 'numpy.dtype'
    } <= names


@pytest.mark.skipif(
    TORCH_2_6,
    reason='torch >= 2.6 with infmae_mm '
    'imported loads it: see the test below')
def test_weights_only_torch_load_refuses_it(mmengine_checkpoint):
    """The problem: torch's safe loader refuses mmengine checkpoints."""
    with pytest.raises(pickle.UnpicklingError):
        torch.load(mmengine_checkpoint, weights_only=True)


def test_safe_load_checkpoint_reads_it(mmengine_checkpoint):
    ckpt = safe_load_checkpoint(mmengine_checkpoint)
    assert ckpt['meta']['epoch'] == 1
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and len(buffer.data[0]) == 2
    assert buffer.mean() == pytest.approx(buffer.data[0].mean())
    assert buffer.statistics('mean') == buffer.mean()
    model = ToyModel()
    result = load_checkpoint_to_model(model, mmengine_checkpoint)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(model.linear.weight,
                               ckpt['state_dict']['linear.weight'])


def test_load_checkpoint_to_model_reports_and_strips_ddp_prefix(tmp_path):
    model = ToyModel()
    path = str(tmp_path / 'ddp.pth')
    torch.save(
        {
            'state_dict':
            {f'module.{k}': v
             for k, v in model.state_dict().items()}
        }, path)
    other = ToyModel()
    assert not load_checkpoint_to_model(other, path).missing_keys
    torch.save(
        {
            'state_dict': {
                'linear.weight': model.linear.weight,
                'extra': torch.ones(1)
            }
        }, path)
    result = load_checkpoint_to_model(ToyModel(), path)
    report = ckpt_utils.describe_incompatible_keys(result)
    assert report == 'missing (1): linear.bias\nunexpected (1): extra'


# ----------------------------------------------- allow_checkpoint_globals
class _Recorder:

    def __init__(self) -> None:
        self.entries = []

    def __call__(self, entries) -> None:
        self.entries += list(entries)


@pytest.mark.parametrize('version,registers', [('2.1.2', False),
                                               ('2.5.1', False),
                                               ('2.6.0', True),
                                               ('2.7.1+cpu', True)])
def test_allow_checkpoint_globals_by_torch_version(version, registers,
                                                   monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(torch, '__version__', version)
    monkeypatch.setattr(
        torch.serialization, 'add_safe_globals', recorder, raising=False)
    assert allow_checkpoint_globals() is registers
    assert bool(recorder.entries) is registers
    if registers:
        names = [name for _, name in recorder.entries]
        assert len(names) == len(set(names))
        assert all(isinstance(n, str) for n in names)


def test_no_op_without_the_api(monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.6.0')
    monkeypatch.delattr(torch.serialization, 'add_safe_globals', raising=False)
    assert allow_checkpoint_globals() is False


def test_the_registered_getattr_is_restricted():
    getattr_entry = dict(
        (name, obj)
        for obj, name in weights_only_allow_list())['builtins.getattr']
    assert getattr_entry is not getattr
    assert getattr_entry(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in [(HistoryBuffer, '__init__'),
                      (HistoryBuffer, '__class__'), (codecs, 'open'),
                      (int, 'mro')]:
        with pytest.raises(pickle.UnpicklingError):
            getattr_entry(obj, name)


# -------------------------------- torch >= 2.6's rules, emulated on 2.1
#: What torch's weights_only loader allows without registration (the part
#: mmengine checkpoints use; storages are resolved by torch.load itself).
TORCH_DEFAULTS = {
    'collections.OrderedDict': collections.OrderedDict,
    'torch._utils._rebuild_tensor_v2': torch._utils._rebuild_tensor_v2,
    'torch._utils._rebuild_parameter': torch._utils._rebuild_parameter,
    'torch.Size': torch.Size,
    '_codecs.encode': codecs.encode,
    'builtins.set': set,
}


def weights_only_emulation(entries):
    """A pickle module for torch.load applying torch 2.6's weights_only rules
    with ``entries`` (``(object, 'module.name')``) registered."""
    allowed = dict(TORCH_DEFAULTS)
    allowed.update((name, obj) for obj, name in entries)
    values = list(allowed.values())

    def is_allowed(obj) -> bool:
        return any(obj is v for v in values)

    class Unpickler(pickle._Unpickler):
        dispatch = dict(pickle._Unpickler.dispatch)

        def find_class(self, module, name):
            module, name = _compat_pickle.NAME_MAPPING.get((module, name),
                                                           (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            if f'{module}.{name}' not in allowed:
                raise pickle.UnpicklingError(
                    f'Unsupported global: GLOBAL {module}.{name}')
            return allowed[f'{module}.{name}']

        def load_reduce(self):
            func = self.stack[-2]
            if not is_allowed(func):
                raise pickle.UnpicklingError(f'reduce with {func}')
            pickle._Unpickler.load_reduce(self)

        def load_newobj(self):
            cls = self.stack[-2]
            if not is_allowed(cls):
                raise pickle.UnpicklingError(f'new object of {cls}')
            pickle._Unpickler.load_newobj(self)

        def load_build(self):
            inst = self.stack[-2]
            if not (type(inst) in (torch.Tensor, torch.nn.Parameter,
                                   collections.OrderedDict)
                    or is_allowed(type(inst))):
                raise pickle.UnpicklingError(f'build of {type(inst)}')
            pickle._Unpickler.load_build(self)

        dispatch[pickle.REDUCE[0]] = load_reduce
        dispatch[pickle.NEWOBJ[0]] = load_newobj
        dispatch[pickle.BUILD[0]] = load_build

    module = types.ModuleType('weights_only_emulation')
    module.Unpickler = Unpickler
    return module


def test_emulation_refuses_like_torch_without_the_allow_list(
        mmengine_checkpoint):
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(
            mmengine_checkpoint,
            pickle_module=weights_only_emulation([]),
            weights_only=False)


def test_allow_list_loads_mmengine_checkpoints_under_the_emulation(
        mmengine_checkpoint, monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(torch, '__version__', '2.6.0')
    monkeypatch.setattr(
        torch.serialization, 'add_safe_globals', recorder, raising=False)
    assert allow_checkpoint_globals()
    registered = {name for _, name in recorder.entries}
    needed = {
        name
        for name in pickled_globals(mmengine_checkpoint)
        if name not in TORCH_DEFAULTS
        and not (name.startswith('torch.') and name.endswith('Storage'))
    }
    assert needed and needed <= registered
    loaded = torch.load(
        mmengine_checkpoint,
        pickle_module=weights_only_emulation(recorder.entries),
        weights_only=False)
    reference = safe_load_checkpoint(mmengine_checkpoint)
    assert loaded['meta'] == reference['meta']
    for key, value in reference['state_dict'].items():
        torch.testing.assert_close(loaded['state_dict'][key], value)
    mine = loaded['message_hub']['log_scalars']['train/loss']
    ref = reference['message_hub']['log_scalars']['train/loss']
    assert mine.mean() == ref.mean()
    assert mine.statistics('max') == ref.statistics('max')


def test_emulation_still_refuses_code(tmp_path, monkeypatch):
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'payload': _Exploit()}, path)
    with pytest.raises(pickle.UnpicklingError, match='builtins.print'):
        torch.load(
            path,
            pickle_module=weights_only_emulation(weights_only_allow_list()),
            weights_only=False)


class _Exploit:

    def __reduce__(self):
        return (print, ('pwned', ))


@pytest.mark.skipif(
    not TORCH_2_6,
    reason=f'needs torch >= 2.6, whose torch.load defaults to '
    f'weights_only=True and takes named allow-list entries (installed: '
    f'{torch.__version__}); emulated above')
def test_torch_load_default_reads_mmengine_checkpoints(mmengine_checkpoint,
                                                       tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    allow_checkpoint_globals()
    loaded = torch.load(mmengine_checkpoint)  # weights_only by default
    assert loaded['meta']['epoch'] == 1
    assert _load_checkpoint(mmengine_checkpoint)['meta']['epoch'] == 1
    evil = str(tmp_path / 'evil.pth')
    torch.save({'payload': _Exploit()}, evil)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil)


# ------------------------------------------------ nothing else unpickles
#: Calls that unpickle a file with no restriction of their own.
UNSAFE_CALLS = {('torch', 'load'), ('pickle', 'load'), ('pickle', 'loads'),
                ('dill', 'load'), ('joblib', 'load')}
#: Loaders built on a bare torch.load (mmengine and torch.hub).
UNSAFE_IMPORTS = {
    'load_checkpoint', '_load_checkpoint', 'CheckpointLoader',
    'load_from_local', 'load_state_dict_from_url', 'load_url'
}


def unsafe_loading(path):
    """(line, what) of every unrestricted unpickling in a source file."""
    tree = ast.parse(open(path).read(), filename=path)
    found = []
    allowed_torch_load = set()
    for node in ast.walk(tree):
        # The one torch.load of the package: safe_load_checkpoint's, which
        # passes the restricted pickle module.
        if isinstance(node, ast.FunctionDef) and \
                node.name == 'safe_load_checkpoint':
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and any(k.arg == 'pickle_module'
                                                      for k in call.keywords):
                    allowed_torch_load.add(id(call))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else None
            if (name, node.func.attr) in UNSAFE_CALLS and \
                    id(node) not in allowed_torch_load:
                found.append((node.lineno, f'{name}.{node.func.attr}()'))
            if node.func.attr == 'load' and name in ('np', 'numpy') and any(
                    k.arg == 'allow_pickle' for k in node.keywords):
                found.append((node.lineno, 'numpy.load(allow_pickle=...)'))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in UNSAFE_IMPORTS or (
                        node.module in ('torch', 'pickle')
                        and alias.name in ('load', 'loads')):
                    found.append((node.lineno,
                                  f'from {node.module} import {alias.name}'))
    return found


def test_no_module_or_tool_unpickles_without_the_allow_list():
    files = sorted(
        glob.glob(osp.join(REPO, 'infmae_mm', '**', '*.py'), recursive=True) +
        glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True))
    assert len(files) > 20
    offenders = {
        osp.relpath(f, REPO): hits
        for f in files if (hits := unsafe_loading(f))
    }
    assert not offenders, offenders


def test_the_scan_finds_unsafe_loading(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('import torch, pickle\n'
                   'from mmengine.runner import load_checkpoint\n'
                   'def f(p):\n'
                   '    return torch.load(p), pickle.loads(p)\n'
                   'def safe_load_checkpoint(p):\n'
                   '    return torch.load(p, pickle_module=None)\n')
    assert [what for _, what in unsafe_loading(str(bad))] == [
        'from mmengine.runner import load_checkpoint', 'torch.load()',
        'pickle.loads()'
    ]
