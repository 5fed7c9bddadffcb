"""Loading checkpoints without unpickling arbitrary objects.

Two paths, one allow-list:

* :func:`safe_load_checkpoint` reads a file with a restricted unpickler on
  every torch version; everything in this package loads checkpoints through
  it (:func:`load_checkpoint_to_model` for whole models).
* :func:`allow_checkpoint_globals` registers the same non-tensor types with
  torch's own ``weights_only`` loader (torch >= 2.6, where it is the
  default), so that the host engines' loaders (mmengine's ``resume`` and
  ``load_from``) read mmengine checkpoints without turning the safety off.
"""
import collections
import errno
import io
import os
import pickle
import re
import types
import zipfile
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import _compat_pickle
import torch
import torch.nn as nn

#: (module, name) globals a checkpoint may reference. Anything else, e.g. a
#: function that a crafted file would call while loading, is refused.
_ALLOWED_GLOBALS: Dict[Tuple[str, str], Any] = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch', 'Size'): torch.Size,
    ('torch._utils', '_rebuild_tensor'): torch._utils._rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
    ('torch._utils', '_rebuild_parameter'): torch._utils._rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'):
    torch._utils._rebuild_parameter_with_state,
    ('builtins', 'set'): set,
    ('builtins', 'frozenset'): frozenset,
}


def _numpy_globals() -> Dict[Tuple[str, str], Any]:
    """Numpy arrays, dtypes and scalars (mmengine's message hub holds them)."""
    import numpy as np
    from numpy.core import multiarray
    entries = {
        ('numpy', 'ndarray'):
        np.ndarray,
        ('numpy', 'dtype'):
        np.dtype,
        # numpy pickles raw bytes as latin-1 text re-encoded on load.
        ('_codecs', 'encode'):
        _encode_latin1,
    }
    # numpy 2 names the module numpy._core; accept files from either major.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries[(module, '_reconstruct')] = multiarray._reconstruct
        entries[(module, 'scalar')] = multiarray.scalar
    return entries


def _numpy_dtype_classes() -> Tuple[type, ...]:
    """The classes of numpy's numeric dtypes (``numpy.dtypes.Float64DType`` and
    so on in numpy >= 1.25, ``numpy.dtype`` itself before).

    A pickled dtype is rebuilt by calling ``numpy.dtype`` and then restored
    in place; torch's ``weights_only`` unpickler allows that restore only on
    an instance of an allowed class. Object, string, void and datetime
    dtypes are left out: no checkpoint of this package holds them.
    """
    import numpy as np
    codes = '?bhilqBHILQefdgFDG'
    return tuple(dict.fromkeys(type(np.dtype(c)) for c in codes))


def _encode_latin1(text: str, encoding: str = 'latin1') -> bytes:
    if encoding != 'latin1':
        raise pickle.UnpicklingError(
            f'Refusing _codecs.encode with encoding {encoding!r}.')
    return text.encode('latin1')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to the statistics methods of a HistoryBuffer.

    mmengine pickles HistoryBuffer's table of statistics methods as
    ``getattr(HistoryBuffer, 'mean')`` and so on; a general ``getattr`` would
    let a crafted file reach any attribute of any object, so nothing else
    passes.
    """
    from mmengine.logging import HistoryBuffer
    statistics = {
        'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods
    }
    if (obj is HistoryBuffer or isinstance(obj, HistoryBuffer)) and \
            name in statistics:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({type(obj).__name__}, {name!r}) in a checkpoint.')


def _mmengine_globals() -> Dict[Tuple[str, str], Any]:
    """What mmengine training checkpoints reference besides tensors."""
    from mmengine.logging import HistoryBuffer
    return {
        ('mmengine.logging.history_buffer', 'HistoryBuffer'): HistoryBuffer,
        ('builtins', 'getattr'): _history_buffer_getattr,
        **_numpy_globals(),
    }


class CheckpointNamespace(types.SimpleNamespace):
    """Stand-in for ``argparse.Namespace`` (the official ``args`` entry).

    The state is restored attribute by attribute; no code of the file runs.
    """


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals."""

    extra_globals: Dict[Tuple[str, str], Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 files name Python 2 modules (``__builtin__``).
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[key]
        if key in self.extra_globals:
            return self.extra_globals[key]
        mmengine_globals = _mmengine_globals()
        if key in mmengine_globals:
            return mmengine_globals[key]
        if key == ('argparse', 'Namespace'):
            return CheckpointNamespace
        if module == 'torch' and isinstance(
                getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(
            f'Refusing to load the global {module}.{name} from a checkpoint: '
            f'only tensors, containers and a few known types are loaded, '
            f'because unpickling arbitrary objects can run code. If the file '
            f'is trusted and this type is data, allow it with '
            f'safe_load_checkpoint(path, extra_globals={{("{module}", '
            f'"{name}"): ...}}).')


def _restricted_pickle_module(
        extra_globals: Dict[Tuple[str, str], Any]) -> types.ModuleType:
    unpickler = type('Unpickler', (RestrictedUnpickler, ),
                     {'extra_globals': dict(extra_globals)})
    module = types.ModuleType('infmae_restricted_pickle')
    module.Unpickler = unpickler  # type: ignore[attr-defined]
    module.load = lambda f, **kw: unpickler(f, **kw).load()  # type: ignore
    module.loads = lambda b, **kw: unpickler(io.BytesIO(b), **kw).load(
    )  # type: ignore  # noqa: E501
    return module


#: First bytes of torch's zip checkpoints (a zip local file header).
_ZIP_MAGIC = b'PK\x03\x04'
#: torch's legacy format (torch < 1.6, ``_use_new_zipfile_serialization=
#: False``) is a pickle: PROTO opcode, then protocol 2 to 5.
_PICKLE_PROTO = b'\x80'

#: torch's messages for a damaged file (wrapped into CheckpointFileError);
#: other RuntimeErrors of ``torch.load`` (e.g. a CUDA ``map_location`` on a
#: machine without CUDA) pass unchanged.
_DAMAGED_FILE_MESSAGES = re.compile(
    r'PytorchStreamReader|zip archive|central directory|EOF|unexpected end|'
    r'storage has wrong|file_size|magic number')


class CheckpointFileError(RuntimeError):
    """A checkpoint file that torch cannot read: empty, truncated, or not a
    torch checkpoint. The message names the file and the problem.

    A RuntimeError, as torch's own message for these files is.
    """


def _describe_start(head: bytes) -> str:
    """What the first bytes of a file that is not a torch checkpoint look like
    (a failed download's HTML page, a safetensors or numpy file)."""
    text = head.lstrip().lower()
    if text.startswith((b'<!doctype', b'<html', b'<?xml')):
        return 'an HTML/XML page (a failed download?)'
    if head.startswith(b'\x93NUMPY'):
        return 'a numpy .npy file'
    if len(head) >= 9 and head[8:9] == b'{' and \
            int.from_bytes(head[:8], 'little') < 1 << 30:
        return 'a safetensors file (load it with safetensors.torch)'
    if text.startswith((b'{', b'[')):
        return 'JSON text'
    return f'bytes {head[:8]!r}'


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`CheckpointFileError` when ``path`` cannot be a readable
    torch checkpoint, before torch reports it without naming the file.

    Detects an empty file, a zip checkpoint whose end (the zip's central
    directory) is missing, as an interrupted save or download leaves it, a
    zip archive that is not a checkpoint, and a file in neither of torch's
    formats. A missing path raises ``FileNotFoundError`` (naming it) as
    ``open`` does.

    Args:
        path (str): The checkpoint file.

    Raises:
        CheckpointFileError: Naming ``path``, its size and what is wrong.
        FileNotFoundError: If ``path`` does not exist.
        IsADirectoryError: If ``path`` is a directory.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, 'No checkpoint file', path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, 'A checkpoint is a file, not a '
                                'directory', path)
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointFileError(
            f'Checkpoint {path} is empty (0 bytes): the save or download '
            f'that wrote it was interrupted. Use an earlier checkpoint or '
            f'download it again.')
    with open(path, 'rb') as f:
        head = f.read(16)
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            raise CheckpointFileError(
                f'Checkpoint {path} is truncated or damaged ({size} bytes): '
                f'it starts as a torch zip checkpoint but its end, the zip '
                f'directory, is missing or unreadable, as an interrupted save '
                f'or download leaves it. Use an earlier checkpoint or '
                f'download it again.')
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if not any(n.endswith('/data.pkl') for n in names):
            raise CheckpointFileError(
                f'Checkpoint {path} ({size} bytes) is a zip archive but not a '
                f'torch checkpoint: it has no <name>/data.pkl (it holds '
                f'{names[:5]}{" ..." if len(names) > 5 else ""}).')
        return
    legacy = len(head) >= 2 and head[:1] == _PICKLE_PROTO and \
        2 <= head[1] <= 5
    if not legacy:
        raise CheckpointFileError(
            f'Checkpoint {path} ({size} bytes) is not a torch checkpoint: '
            f'it starts with {_describe_start(head)}, not a zip archive '
            f'({_ZIP_MAGIC!r}, torch.save) or a pickle (torch\'s legacy '
            f'format).')


def safe_load_checkpoint(
        path: str,
        map_location: Any = 'cpu',
        extra_globals: Dict[Tuple[str, str], Any] = {}) -> Any:
    """``torch.load`` restricted to tensors, containers and known types.

    Works the same on torch versions with and without ``weights_only``
    defaults. Besides tensors and containers it reads what mmengine training
    checkpoints hold (``HistoryBuffer``, numpy arrays and scalars) and the
    ``argparse.Namespace`` of official InfMAE/MAE checkpoints (returned as
    :class:`CheckpointNamespace`).

    Args:
        path (str): Checkpoint file.
        map_location: As for ``torch.load``. Defaults to 'cpu'.
        extra_globals (dict): More ``(module, name) -> object`` entries to
            allow, for trusted files that hold other plain data types.

    Returns:
        The loaded object.

    Raises:
        pickle.UnpicklingError: If the file references a global that is not
            allowed (the message names it).
        CheckpointFileError: If the file is empty, truncated or not a torch
            checkpoint (the message names the file and the problem).
        FileNotFoundError: If ``path`` does not exist.
    """
    is_path = isinstance(path, (str, os.PathLike))
    if is_path:
        check_checkpoint_file(os.fspath(path))
    try:
        return torch.load(
            path,
            map_location=map_location,
            pickle_module=_restricted_pickle_module(extra_globals),
            weights_only=False)
    except pickle.UnpicklingError as err:
        if str(err).startswith('Refusing') or not is_path:
            raise
        raise CheckpointFileError(
            f'Checkpoint {path} could not be unpickled ({err}): it is '
            f'damaged or not a torch checkpoint.') from err
    except (RuntimeError, EOFError, zipfile.BadZipFile) as err:
        if not is_path or (isinstance(err, RuntimeError)
                           and not _DAMAGED_FILE_MESSAGES.search(str(err))):
            raise
        raise CheckpointFileError(
            f'Checkpoint {path} ({os.path.getsize(path)} bytes) could not be '
            f'read: {type(err).__name__}: {err}. The file is damaged or '
            f'truncated (an interrupted save or download); use an earlier '
            f'checkpoint or download it again.') from err


def extract_state_dict(
    checkpoint: Any, keys: Tuple[str, ...] = ('state_dict', 'model', 'module')
) -> Dict[str, Any]:
    """Return the state dict inside a loaded checkpoint.

    Accepts a bare state dict or a dict holding one under one of ``keys``
    (mmengine: ``state_dict``; official MAE-style: ``model``).
    """
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint should be a dict, got '
                        f'{type(checkpoint).__name__}.')
    for key in keys:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return checkpoint[key]
    if checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    raise KeyError(f'No state dict under {keys} in the checkpoint; it holds '
                   f'{sorted(checkpoint)[:10]}.')


def _torch_version() -> Tuple[int, int]:
    """(major, minor) of the installed torch (local suffixes ignored)."""
    match = re.match(r'(\d+)\.(\d+)', torch.__version__)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def weights_only_allow_list() -> List[Tuple[Any, str]]:
    """``(object, 'module.name')`` entries mmengine checkpoints need beyond
    what torch's ``weights_only`` loader allows by default.

    They are the entries of :func:`safe_load_checkpoint`'s allow-list that
    mmengine training checkpoints reference: ``HistoryBuffer`` (the message
    hub's logged scalars), numpy's array, dtype and scalar reconstructors,
    and ``builtins.getattr`` mapped to a ``getattr`` that only returns the
    statistics methods of a HistoryBuffer (mmengine pickles that class's
    method table as ``getattr(HistoryBuffer, 'mean')``; the real
    ``getattr`` would hand a crafted file any attribute of any allowed
    object). The classes of the numeric numpy dtypes are added because torch
    restores a rebuilt dtype only on an allowed class. Tensors, storages,
    ``OrderedDict``, ``set`` and ``_codecs.encode`` are allowed by torch
    already.
    """
    entries = [(obj, f'{module}.{name}')
               for (module, name), obj in _mmengine_globals().items()
               if (module, name) != ('_codecs', 'encode')]
    entries += [(cls, f'{cls.__module__}.{cls.__qualname__}')
                for cls in _numpy_dtype_classes()]
    return entries


def allow_checkpoint_globals() -> bool:
    """Let torch's ``weights_only`` loader read mmengine checkpoints.

    torch >= 2.6 loads with ``weights_only=True`` by default, which refuses
    every non-tensor global unless it is allow-listed; mmengine 0.10's
    ``resume``/``load_from`` call plain ``torch.load`` and so fail on their
    own training checkpoints. This registers :func:`weights_only_allow_list`
    with ``torch.serialization.add_safe_globals`` under the names that the
    checkpoints use. ``infmae_mm`` calls it on import; calling it again is
    harmless.

    On torch < 2.6 it does nothing and returns False: before 2.6
    ``torch.load`` defaults to ``weights_only=False`` (files load as they
    always did: load only files you trust, or use
    :func:`safe_load_checkpoint`), and the allow-list of torch 2.4 and 2.5
    can register an object only under its own name, so the restricted
    ``getattr`` that every mmengine checkpoint needs cannot stand in for
    ``builtins.getattr`` there.

    Returns:
        bool: Whether the entries were registered.
    """
    serialization = torch.serialization
    if _torch_version() < (2, 6) or not hasattr(serialization,
                                                'add_safe_globals'):
        return False
    serialization.add_safe_globals(weights_only_allow_list())
    return True


def load_checkpoint_to_model(model: nn.Module,
                             checkpoint: str,
                             strict: bool = False,
                             map_location: Any = 'cpu') -> Any:
    """Load a checkpoint's weights into ``model`` via the safe loader.

    The replacement for ``mmengine.runner.load_checkpoint`` in this package's
    tools: that one unpickles with a bare ``torch.load``. Accepts mmengine
    checkpoints (``state_dict``), official-style ones (``model``) and bare
    state dicts; a ``module.`` prefix left by (Distributed)DataParallel is
    removed.

    Args:
        model (nn.Module): The model to load into.
        checkpoint (str): Checkpoint path.
        strict (bool): Raise if keys are missing or unexpected (the message
            lists them). Defaults to False: the caller reports them, e.g.
            with :func:`describe_incompatible_keys`.
        map_location: As for ``torch.load``. Defaults to 'cpu'.

    Returns:
        The ``(missing_keys, unexpected_keys)`` result of
        ``model.load_state_dict``.
    """
    state_dict = extract_state_dict(
        safe_load_checkpoint(checkpoint, map_location=map_location))
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return model.load_state_dict(state_dict, strict=strict)


def describe_incompatible_keys(result: Any, limit: Optional[int] = 10) -> str:
    """A readable summary of a ``load_state_dict`` result.

    Args:
        result: What ``load_state_dict`` (or
            :func:`load_checkpoint_to_model`) returned.
        limit (int, optional): Keys listed per kind; None lists all.

    Returns:
        str: ``'all keys matched'`` or one line per kind, e.g.
        ``'missing (2): a.weight, a.bias'``.
    """
    lines = []
    for kind, keys in (('missing', result.missing_keys),
                       ('unexpected', result.unexpected_keys)):
        if not keys:
            continue
        shown = list(keys)[:limit] if limit is not None else list(keys)
        more = len(keys) - len(shown)
        lines.append(f'{kind} ({len(keys)}): ' + ', '.join(shown) +
                     (f', ... ({more} more)' if more else ''))
    return '\n'.join(lines) if lines else 'all keys matched'


#: Keys a checkpoint may lack, or hold without a place in the model, while its
#: weights still fit: ``(regex, why)``. Nothing else is tolerated by
#: :func:`load_checkpoint_checked`.
OPTIONAL_KEYS: Tuple[Tuple[str, str], ...] = (
    (r'(^|\.)num_batches_tracked$', 'BatchNorm step counters, not weights'),
    (r'^mask_generator\.(weight|bias)$',
     "the official linear IAM scorer's fixed random conv, used only with "
     "model.mask_generator=dict(scorer='linear')"),
    (r'^data_preprocessor\.',
     "the data preprocessor's normalisation buffers, set by the config"),
)


class CheckpointMismatchError(ValueError):
    """A checkpoint whose tensors do not fit the model a tool built from its
    config; the message names the file, the model and the keys."""


class LoadReport(NamedTuple):
    """What :func:`load_checkpoint_checked` loaded and left out.

    Attributes:
        loaded (int): Model tensors taken from the checkpoint.
        total (int): Tensors of the model's state dict.
        missing (list[str]): Model keys the checkpoint lacks (tolerated
            optional keys excluded).
        unexpected (list[str]): Checkpoint keys the model lacks (tolerated
            optional keys excluded).
        mismatched (list[str]): Keys in both whose shapes differ, as
            ``'key: checkpoint (..) vs model (..)'``.
        tolerated (list[str]): Optional keys (:data:`OPTIONAL_KEYS`) either
            side lacks.
    """
    loaded: int
    total: int
    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]
    tolerated: List[str]

    @property
    def exact(self) -> bool:
        """Whether every tensor fits (tolerated optional keys aside)."""
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: Optional[int] = 10) -> str:
        """One line per kind of mismatch, ``limit`` keys each."""
        lines = [
            f'{self.loaded} of {self.total} model tensors loaded' +
            (', all keys matched' if self.exact else '')
        ]
        for kind, keys in (('missing from the checkpoint', self.missing),
                           ('unexpected (not in the model)', self.unexpected),
                           ('shape mismatch', self.mismatched),
                           ('tolerated optional', self.tolerated)):
            if not keys:
                continue
            shown = keys[:limit] if limit is not None else keys
            more = len(keys) - len(shown)
            lines.append(f'{kind} ({len(keys)}): ' + ', '.join(shown) +
                         (f', ... ({more} more)' if more else ''))
        return '\n'.join(lines)

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready summary (for a tool's result file)."""
        return dict(self._asdict(), exact=self.exact)


def upgrade_state_dict(state_dict: Dict[str, Any],
                       model: nn.Module) -> Dict[str, Any]:
    """``state_dict`` in the layout of ``model``: what the model's modules do
    to old checkpoints when loading them, done before shapes and keys are
    compared.

    1x1 conv weights (C_out, C_in, 1, 1) are reshaped for the layers that
    hold them as linear maps (``loads_conv1x1``: the conv stages'
    ``Pointwise`` since infmae_mm 0.2).

    Args:
        state_dict (dict): Keys as ``model.state_dict()`` names them.
        model (nn.Module): The model they are for.

    Returns:
        dict: A new dict, the tensors shared.
    """
    state_dict = dict(state_dict)
    pointwise = set()
    for name, module in model.named_modules():
        prefix = f'{name}.' if name else ''
        if getattr(module, 'loads_conv1x1', False):
            pointwise.add(f'{prefix}weight')
    for key in pointwise & set(state_dict):
        value = state_dict[key]
        if isinstance(value, torch.Tensor) and value.dim() == 4 \
                and value.shape[2:] == (1, 1):
            state_dict[key] = value.flatten(1)
    return state_dict


def _is_optional(key: str) -> bool:
    return any(re.search(pattern, key) for pattern, _ in OPTIONAL_KEYS)


def _prefix_hint(missing: List[str], unexpected: List[str]) -> str:
    """Advice when the two sides differ by a leading prefix only (a bare
    backbone state dict against a whole model, or the reverse)."""
    for extra, short, side in ((unexpected, missing, 'checkpoint'),
                               (missing, unexpected, 'model')):
        short_set = set(short)
        counts = collections.Counter(
            k.split('.', 1)[0] for k in extra
            if '.' in k and k.split('.', 1)[1] in short_set)
        if not counts:
            continue
        prefix, count = counts.most_common(1)[0]
        if count < max(1, len(short) // 2):
            continue
        if side == 'checkpoint':
            return (f' Its keys carry an extra prefix {prefix + "."!r}: the '
                    f'file holds a larger model, of which {prefix!r} is the '
                    f'part wanted here.')
        return (f' The model\'s keys carry a prefix {prefix + "."!r} that '
                f'the file lacks: it holds a bare {prefix!r} state dict (a '
                f'converted encoder?), not the whole model.')
    return ''


def load_checkpoint_checked(model: nn.Module,
                            checkpoint: str,
                            target: str,
                            allow_partial: bool = False,
                            partial_option: Optional[str] = '--allow-partial',
                            state_dict: Optional[Dict[str, Any]] = None,
                            map_location: Any = 'cpu') -> LoadReport:
    """Load ``checkpoint`` into ``model`` and refuse it when it does not fit.

    The tools' one loading path (held-out reconstruction, the picture tools,
    the attention NMI, the ONNX export): a checkpoint of another model or
    another config must not be scored, drawn or exported as if it were this
    one. Keys in :data:`OPTIONAL_KEYS` are tolerated either way; any other
    missing, unexpected or differently shaped tensor raises, unless
    ``allow_partial``, which loads what fits and reports the rest (a file
    of which nothing fits is refused even then).

    Args:
        model (nn.Module): The model built from the tool's config.
        checkpoint (str): Path of the file (read with
            :func:`safe_load_checkpoint` unless ``state_dict`` is given).
        target (str): What ``model`` is, for messages (e.g. ``'the model of
            configs/pretrain/x.py'``).
        allow_partial (bool): Load the fitting tensors and keep the others
            as initialised. Defaults to False.
        partial_option (str, optional): The tool's option that sets
            ``allow_partial``, named in the error; None when the tool has
            none.
        state_dict (dict, optional): The checkpoint's tensors, already read
            and re-keyed (e.g. a prefix removed) by the caller.
        map_location: As for ``torch.load``. Defaults to 'cpu'.

    Returns:
        LoadReport: What was loaded and what not.

    Raises:
        CheckpointMismatchError: Naming the file, ``target``, the mismatched
            keys and, when partial loading is a use, ``partial_option``.
    """
    if state_dict is None:
        state_dict = extract_state_dict(
            safe_load_checkpoint(checkpoint, map_location=map_location))
        if state_dict and all(k.startswith('module.') for k in state_dict):
            state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    state_dict = upgrade_state_dict(state_dict, model)
    own = model.state_dict()
    missing, tolerated, mismatched = [], [], []
    fitting = {}
    for key, tensor in own.items():
        if key not in state_dict:
            (tolerated if _is_optional(key) else missing).append(key)
            continue
        value = state_dict[key]
        if isinstance(value, torch.Tensor) and value.shape != tensor.shape:
            mismatched.append(f'{key}: checkpoint {tuple(value.shape)} vs '
                              f'model {tuple(tensor.shape)}')
            continue
        fitting[key] = value
    unexpected = []
    for key in state_dict:
        if key not in own:
            (tolerated if _is_optional(key) else unexpected).append(key)
    report = LoadReport(
        len(fitting), len(own), missing, unexpected, mismatched, tolerated)
    if not fitting:
        official = ''
        if 'patch_embed4.weight' in state_dict:
            official = (' It is an official InfMAE checkpoint: convert it '
                        'with tools/model_converters/infmae_official_to_mm.py '
                        'first.')
        raise CheckpointMismatchError(
            f'No tensor of {checkpoint} fits {target}: it is a checkpoint '
            f'of another model (its keys look like '
            f'{sorted(state_dict)[:5]}).{official}'
            f'{_prefix_hint(missing, unexpected)}\n{report.describe()}')
    if not report.exact and not allow_partial:
        option = (f' To load only the fitting tensors on purpose, pass '
                  f'{partial_option}.' if partial_option else '')
        raise CheckpointMismatchError(
            f'{checkpoint} does not fit {target}:\n{report.describe()}\n'
            f'Give the checkpoint written by this config (or the config '
            f'that wrote the checkpoint).'
            f'{_prefix_hint(missing, unexpected)}{option}')
    model.load_state_dict(fitting, strict=False)
    return report
