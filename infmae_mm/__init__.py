"""infmae_mm: InfMAE, the infrared foundation model, as an OpenMMLab plugin.

Importing the package registers every component (``custom_imports =
dict(imports=['infmae_mm'])`` in a config does it for the OpenMMLab tools).
"""
from .version import __version__

from . import datasets, engine, evaluation, models  # noqa: E402,F401,E501  (registration)
from .utils.checkpoint import allow_checkpoint_globals  # noqa: E402

# torch >= 2.6 loads with weights_only=True: allow-list what mmengine
# checkpoints hold, so that resume / load_from keep working safely.
allow_checkpoint_globals()

__all__ = ['__version__']
