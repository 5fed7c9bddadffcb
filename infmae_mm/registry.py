"""Registration of infmae_mm components into the OpenMMLab host registries.

Every component is implemented once. ``register_in_hosts`` adds it to the
registry of each host codebase that must build it (mmpretrain for
pre-training, mmseg and mmdet for fine-tuning), so configs keep the host's
``default_scope`` and still find ``type='InfMAEViT'``. Hosts that are not
installed are skipped.
"""
import importlib
from typing import Callable, Sequence, Type

HOSTS = ('mmpretrain', 'mmseg', 'mmdet')


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
            try:
                registry = getattr(
                    importlib.import_module(f'{host}.registry'), registry_name)
            except ImportError:
                continue
            if registry.module_dict.get(cls.__name__) is not cls:
                registry.register_module(module=cls)
        return cls

    return decorator
