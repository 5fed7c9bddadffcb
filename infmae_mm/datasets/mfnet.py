"""MFNet-T: the thermal channel of MFNet, 9 classes."""
from infmae_mm.registry import register_in_hosts
from .metainfo import MFNET_CLASSES, MFNET_PALETTE
from .split_list_seg import SplitListSegDataset


@register_in_hosts('DATASETS', hosts=('mmseg', ))
class MFNetThermalDataset(SplitListSegDataset):
    """MFNet's thermal images (MFNet-T) with their 9-class labels.

    Layout (UNIP's ``MFNet_thermal`` folder: the thermal channel of each
    4-channel MFNet image saved as its own PNG)::

        MFNet_thermal/
          thermal_imgs/*.png    thermal images, 480x640
          labels/*.png          labels 0-8
          train.txt             names, one per line
          val_test.txt          UNIP validates on val + test
          test.txt

    Args:
        ann_file (str): ``'train.txt'``, ``'val_test.txt'`` or
            ``'test.txt'``.
        **kwargs: See :class:`SplitListSegDataset`.
    """
    METAINFO = dict(
        classes=MFNET_CLASSES, palette=[list(c) for c in MFNET_PALETTE])
    LAYOUT = ('MFNet_thermal/{thermal_imgs/*.png, labels/*.png, train.txt, '
              'val_test.txt, test.txt}')
