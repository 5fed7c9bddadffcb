"""infmae_mm: InfMAE, the infrared foundation model, as an OpenMMLab plugin.

Importing the package registers every component (``custom_imports =
dict(imports=['infmae_mm'])`` in a config does it for the OpenMMLab tools).
"""
from .version import __version__

from . import datasets, models  # noqa: E402,F401  (registration)

__all__ = ['__version__']
