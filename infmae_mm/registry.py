"""Registration of infmae_mm components into the OpenMMLab host registries.

Every component is implemented once. ``register_in_hosts`` adds it to the
registry of each host codebase that must build it (mmpretrain for
pre-training, mmseg and mmdet for fine-tuning), so configs keep the host's
``default_scope`` and still find ``type='InfMAEViT'``. Hosts that are not
installed are skipped.

Each host is optional: a segmentation user needs no mmdet, a pre-training
user neither mmseg nor mmdet. A module that imports a host at module level
(a base class such as ``mmseg.datasets.BaseSegDataset``) is imported by its
package's ``__init__.py`` only ``if host_available('<host>')``; without the
host its components are simply absent from every registry.
"""
import functools
import importlib
import warnings
from typing import Callable, Sequence, Type

HOSTS = ('mmpretrain', 'mmseg', 'mmdet')


@functools.lru_cache(maxsize=None)
def host_available(host: str) -> bool:
    """Whether the host codebase ``host`` (e.g. ``'mmseg'``) imports.

    Not installed: False. Installed but failing to import (say, an mmcv
    version it refuses): False with a warning that repeats the error, so the
    components it would get are absent and the reason is visible.

    Args:
        host (str): Top-level package of the host.

    Returns:
        bool: True when ``import host`` succeeds.
    """
    try:
        importlib.import_module(host)
    except ModuleNotFoundError as err:
        if err.name != host:
            warnings.warn(f'{host} is installed but does not import ({err}); '
                          f'infmae_mm registers no component into it.')
        return False
    except ImportError as err:
        warnings.warn(f'{host} is installed but does not import ({err}); '
                      f'infmae_mm registers no component into it.')
        return False
    return True


def register_in_hosts(registry_name: str,
                      hosts: Sequence[str] = HOSTS) -> Callable[[Type], Type]:
    """Class decorator registering a class into ``<host>.registry.<name>``.

    Args:
        registry_name (str): Registry attribute, e.g. ``'MODELS'``.
        hosts (Sequence[str]): Host packages. Defaults to all three.

    Returns:
        Callable: The decorator; it returns the class unchanged.
    """

    def decorator(cls: Type) -> Type:
        for host in hosts:
            if not host_available(host):
                continue
            registry = getattr(
                importlib.import_module(f'{host}.registry'), registry_name)
            if registry.module_dict.get(cls.__name__) is not cls:
                registry.register_module(module=cls)
        return cls

    return decorator
