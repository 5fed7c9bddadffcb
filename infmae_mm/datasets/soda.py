"""SODA: thermal images of indoor and outdoor scenes, 21 classes."""
from infmae_mm.registry import register_in_hosts
from .metainfo import SODA_CLASSES, SODA_PALETTE
from .split_list_seg import SplitListSegDataset


@register_in_hosts('DATASETS', hosts=('mmseg', ))
class SODADataset(SplitListSegDataset):
    """SODA (Li et al., 2020), the infrared part, as UNIP evaluates it.

    Layout (the release's ``InfraredSemanticLabel`` folder, VOC style)::

        InfraredSemanticLabel/
          JPEGImages/*.jpg              thermal images
          SegmentationClassPNG/*.png    labels 0-20 (255 ignored)
          train_infrared.txt            names, one per line
          test_infrared.txt

    21 classes including ``_background_`` (a class of its own).

    Args:
        ann_file (str): ``'train_infrared.txt'`` or ``'test_infrared.txt'``.
        img_suffix (str): Defaults to '.jpg'.
        **kwargs: See :class:`SplitListSegDataset`.
    """
    METAINFO = dict(
        classes=SODA_CLASSES, palette=[list(c) for c in SODA_PALETTE])
    LAYOUT = ('InfraredSemanticLabel/{JPEGImages/*.jpg, '
              'SegmentationClassPNG/*.png, train_infrared.txt, '
              'test_infrared.txt}')

    def __init__(self, img_suffix: str = '.jpg', **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, **kwargs)
