"""infmae_mm: InfMAE, the infrared foundation model, as an OpenMMLab plugin.

Importing the package registers every component (``custom_imports =
dict(imports=['infmae_mm'])`` in a config does it for the OpenMMLab tools).
"""
from .version import __version__

from . import datasets, engine, evaluation, models  # noqa: E402,F401,E501  (registration)

__all__ = ['__version__']
