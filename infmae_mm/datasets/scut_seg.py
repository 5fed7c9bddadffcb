"""SCUT-Seg: thermal road scenes at night, 10 classes."""
from infmae_mm.registry import register_in_hosts
from .metainfo import SCUT_SEG_CLASSES, SCUT_SEG_PALETTE
from .split_list_seg import SplitListSegDataset


@register_in_hosts('DATASETS', hosts=('mmseg', ))
class SCUTSegDataset(SplitListSegDataset):
    """SCUT-Seg with its 10-class labels, as UNIP evaluates it.

    Layout::

        SCUT_seg/
          images/*.jpg    thermal images
          labels/*.png    labels 0-9
          train.txt       names, one per line
          val.txt

    Args:
        ann_file (str): ``'train.txt'`` or ``'val.txt'``.
        img_suffix (str): Defaults to '.jpg'.
        **kwargs: See :class:`SplitListSegDataset`.
    """
    METAINFO = dict(
        classes=SCUT_SEG_CLASSES, palette=[list(c) for c in SCUT_SEG_PALETTE])
    LAYOUT = 'SCUT_seg/{images/*.jpg, labels/*.png, train.txt, val.txt}'

    def __init__(self, img_suffix: str = '.jpg', **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, **kwargs)
