"""M3FDInfDataset: the infrared half of M3FD as a COCO-style mmdet dataset."""
from typing import Optional

from mmdet.datasets import CocoDataset

from infmae_mm.registry import register_in_hosts
from .metainfo import M3FD_CLASSES, M3FD_PALETTE


@register_in_hosts('DATASETS', hosts=('mmdet', ))
class M3FDInfDataset(CocoDataset):
    """M3FD infrared detection (6 classes) from the converter's COCO JSON.

    Write the annotations with ``tools/dataset_converters/m3fd_to_coco.py``;
    it fixes the category order to :data:`M3FD_CLASSES` (ids 1..6: People,
    Car, Bus, Motorcycle, Lamp, Truck), stores box-shaped polygons as
    ``segmentation`` (so ``LoadAnnotations(with_mask=True)`` gives Mask
    R-CNN box masks) and image paths relative to the M3FD root
    (``'Ir/00000.png'``).

    .. code-block:: python

        dict(type='M3FDInfDataset', data_root='data/M3FD/',
             ann_file='annotations/m3fd_inf_train.json', pipeline=[...])

    Args:
        data_prefix (dict, optional): Image folder joined with
            ``data_root`` before each ``file_name``. Defaults to
            ``dict(img='')`` because the converter's file names already
            start with ``Ir/``.
        **kwargs: Passed to :class:`mmdet.datasets.CocoDataset`.
    """
    # mmdet's visualiser wants each colour as a tuple.
    METAINFO = dict(classes=M3FD_CLASSES, palette=list(M3FD_PALETTE))

    def __init__(self,
                 *args,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            *args,
            data_prefix=dict(img='') if data_prefix is None else data_prefix,
            **kwargs)
