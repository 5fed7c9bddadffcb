"""MSRS infrared semantic segmentation (MSRS-inf)."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset

from infmae_mm.registry import register_in_hosts
from .metainfo import MSRS_CLASSES, MSRS_PALETTE


@register_in_hosts('DATASETS', hosts=('mmseg', ))
class MSRSInfDataset(BaseSegDataset):
    """The infrared images of MSRS with their 9-class labels.

    Layout (the MSRS release)::

        data/MSRS/
          train/ir/*.png                    480x640 infrared images
          train/Segmentation_labels/*.png   labels 0-8, same file names
          test/ir/*.png
          test/Segmentation_labels/*.png

    1083 training and 361 test images. Class 0 (``unlabelled``) is a class
    of its own, as in the paper's 9-class evaluation, so
    ``reduce_zero_label`` is False. Every image must have its label file;
    a missing one fails when the dataset is built, naming the file.

    Args:
        img_suffix (str): Image suffix. Defaults to '.png'.
        seg_map_suffix (str): Label suffix. Defaults to '.png'.
        **kwargs: ``BaseSegDataset`` arguments (``data_root``,
            ``data_prefix=dict(img_path='train/ir',
            seg_map_path='train/Segmentation_labels')``, ``pipeline`` ...).
    """
    METAINFO = dict(
        classes=MSRS_CLASSES, palette=[list(c) for c in MSRS_PALETTE])

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=False,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        for key in ('img_path', 'seg_map_path'):
            folder = self.data_prefix.get(key)
            if folder and '://' not in folder and not osp.isdir(folder):
                # mmseg would fail with a bare FileNotFoundError of the path.
                raise FileNotFoundError(
                    f'The MSRS folder {folder} does not exist. Set data_root '
                    f'(now {self.data_root!r}) and data_prefix.{key} of the '
                    'dataset (e.g. train_dataloader.dataset.data_root) to '
                    'the MSRS release: train/ir, train/Segmentation_labels, '
                    'test/ir, test/Segmentation_labels.')
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f'No {self.img_suffix} images found in '
                f'{self.data_prefix.get("img_path")}; check data_root and '
                f'data_prefix (MSRS layout: train/ir, '
                f'train/Segmentation_labels, test/ir, ...).')
        for info in data_list:
            if not osp.isfile(info['seg_map_path']):
                raise FileNotFoundError(
                    f'The label of {info["img_path"]} is missing: expected '
                    f'{info["seg_map_path"]}. Every MSRS image needs a label '
                    f'PNG with the same name.')
        return data_list
