"""Segmentation folders whose splits are lists of names (VOC-style)."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset


class SplitListSegDataset(BaseSegDataset):
    """An image folder, a label folder and one split file per subset.

    The split file (``ann_file``) lists one name per line, without suffix;
    image ``<img_path>/<name><img_suffix>`` has the label
    ``<seg_map_path>/<name><seg_map_suffix>`` holding class indices (255 is
    ignored). Label values are the class indices, so ``reduce_zero_label``
    is False. The dataset fails when it is built if the split file is
    missing or empty, or if an image or label it names is missing (the
    message names the file and the layout expected).

    Subclasses set ``METAINFO`` and ``LAYOUT`` (a short description of the
    release's folders for the error messages).

    Args:
        ann_file (str): The split file, relative to ``data_root``.
        img_suffix (str): Image suffix.
        seg_map_suffix (str): Label suffix. Defaults to '.png'.
        **kwargs: ``BaseSegDataset`` arguments (``data_root``,
            ``data_prefix=dict(img_path=..., seg_map_path=...)``,
            ``pipeline`` ...).
    """
    LAYOUT = ''

    def __init__(self,
                 ann_file: str = '',
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        if not ann_file:
            raise ValueError(
                f'{type(self).__name__} needs ann_file, the split list (one '
                f'name per line); set dataset.ann_file. Layout: '
                f'{self.LAYOUT}')
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=False,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'The split list {self.ann_file} does not exist; check '
                f'data_root and ann_file. Layout: {self.LAYOUT}')
        data_list = super().load_data_list()
        if not data_list:
            raise ValueError(f'The split list {self.ann_file} is empty.')
        for info in data_list:
            for key in ('img_path', 'seg_map_path'):
                if not osp.isfile(info[key]):
                    raise FileNotFoundError(
                        f'{info[key]} (listed in {self.ann_file}) is '
                        f'missing. Layout: {self.LAYOUT}')
        return data_list
