"""Loading checkpoints without unpickling arbitrary objects."""
import _compat_pickle
import collections
import io
import pickle
import types
from typing import Any, Dict, Tuple

import torch

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
    """numpy arrays, dtypes and scalars (mmengine's message hub holds them)."""
    import numpy as np
    from numpy.core import multiarray
    return {
        ('numpy.core.multiarray', '_reconstruct'): multiarray._reconstruct,
        ('numpy.core.multiarray', 'scalar'): multiarray.scalar,
        ('numpy', 'ndarray'): np.ndarray,
        ('numpy', 'dtype'): np.dtype,
        # numpy pickles raw bytes as latin-1 text re-encoded on load.
        ('_codecs', 'encode'): _encode_latin1,
    }


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
    statistics = {'min', 'max', 'current', 'mean',
                  *HistoryBuffer._statistics_methods}
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
        if module == 'torch' and isinstance(getattr(torch, name, None),
                                            torch.dtype):
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
    module.loads = lambda b, **kw: unpickler(io.BytesIO(b), **kw).load()  # type: ignore  # noqa: E501
    return module


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
    """
    return torch.load(
        path,
        map_location=map_location,
        pickle_module=_restricted_pickle_module(extra_globals),
        weights_only=False)


def extract_state_dict(checkpoint: Any,
                       keys: Tuple[str, ...] = ('state_dict', 'model',
                                                'module')) -> Dict[str, Any]:
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

