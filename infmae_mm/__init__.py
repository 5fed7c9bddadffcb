"""infmae_mm: InfMAE, the infrared foundation model, as an OpenMMLab plugin.

Importing the package registers every component into the host codebases that
are installed (mmpretrain, mmseg, mmdet; see :mod:`infmae_mm.registry`);
``custom_imports = dict(imports=['infmae_mm'])`` in a config does it for the
OpenMMLab tools.
"""
# Imported for registration.
from . import datasets, engine, evaluation, models  # noqa: F401
# The pre-training and classification configs in mmpretrain's model hub
# (list_models / get_model / FeatureExtractor); a no-op without mmpretrain.
from .apis import register_model_index
from .utils.checkpoint import allow_checkpoint_globals
from .version import __version__

# torch >= 2.6 loads with weights_only=True: allow-list what mmengine
# checkpoints hold, so that resume / load_from keep working safely.
allow_checkpoint_globals()
register_model_index()

__all__ = ['__version__']
