"""The package's configs in mmpretrain's model APIs.

mmpretrain's ``list_models``, ``get_model``, ``FeatureExtractor`` and
``inference_model`` look models up by name in ``mmpretrain.apis.ModelHub``,
which reads OpenMMLab ``model-index.yml`` / ``metafile.yml`` files.
:func:`register_model_index` adds the config families of this package that
mmpretrain builds (pre-training and classification) to that hub, so that::

    import infmae_mm, mmpretrain
    mmpretrain.list_models('*infmae*')
    model = mmpretrain.get_model(
        'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30',
        pretrained='work_dirs/.../epoch_400.pth')

work with local checkpoints (no weights are released yet, so the metafiles
carry no URLs). Segmentation and detection configs are listed in the root
``model-index.yml`` too (for ``mim search``) but are built by mmseg / mmdet,
not by mmpretrain's hub, so they are not registered there.

Importing :mod:`infmae_mm` calls :func:`register_model_index` when mmpretrain
is importable; nothing happens without mmpretrain.
"""
import os.path as osp
from typing import List, Optional

from mmengine.logging import print_log

#: Config families (folders under ``configs/``) whose models mmpretrain
#: builds; each has a ``metafile.yml`` imported by ``model-index.yml``.
MMPRETRAIN_FAMILIES = ('pretrain', 'cls')

_registered_root: Optional[str] = None


def find_index_root() -> Optional[str]:
    """The folder holding ``model-index.yml`` and ``configs/``, or None.

    A source checkout or editable install has them at the repository root;
    a wheel built with mim's ``.mim`` convention has them in
    ``infmae_mm/.mim``.
    """
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.join(package, '.mim'), osp.dirname(package)):
        if osp.isfile(osp.join(root, 'model-index.yml')) and osp.isdir(
                osp.join(root, 'configs')):
            return root
    return None


def register_model_index(root: Optional[str] = None) -> List[str]:
    """Register the pre-training and classification configs in mmpretrain.

    Idempotent: a second call (another import, a test) registers nothing
    new.

    Args:
        root (str, optional): Folder with ``model-index.yml`` and
            ``configs/``. Defaults to :func:`find_index_root`.

    Returns:
        list[str]: Names registered by this call (lower case, the config
        file names without ``.py``); empty when mmpretrain is missing, the
        index is not found, or everything was registered before.
    """
    global _registered_root
    try:
        from mmpretrain.apis import ModelHub
    except ImportError:
        return []
    root = root or find_index_root()
    if root is None:
        print_log(
            'infmae_mm: model-index.yml not found next to the package; '
            'mmpretrain.list_models() will not list the infmae_mm configs '
            '(install from a source checkout with `pip install -e .`).',
            logger='current')
        return []
    if _registered_root == root:
        return []
    from modelindex.load_model_index import load
    added: List[str] = []
    for family in MMPRETRAIN_FAMILIES:
        metafile = osp.join(root, 'configs', family, 'metafile.yml')
        if not osp.isfile(metafile):
            continue
        index = load(metafile)
        index.build_models_with_collections()
        names = [model.name.lower() for model in index.models]
        if all(ModelHub.has(name) for name in names):
            continue  # registered before (e.g. from another import path)
        ModelHub.register_model_index(metafile, config_prefix=root)
        added += names
    _registered_root = root
    return added
