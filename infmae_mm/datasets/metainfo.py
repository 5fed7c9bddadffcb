"""Facts about the datasets, defined once: class names, palettes, suffixes.

Runtime datasets (:mod:`infmae_mm.datasets`) and offline tools (the M3FD
converter, data curation, the synthetic data writers in
:mod:`infmae_mm.testing`) all import these names from here, so a class
order or a suffix list cannot drift between the code that writes a dataset
and the code that reads it. Only the standard library is imported.

Palettes are RGB, as mmseg's and mmdet's visualisers expect.
"""
from typing import Tuple

__all__ = [
    'IMAGE_SUFFIXES', 'MSRS_CLASSES', 'MSRS_PALETTE', 'M3FD_CLASSES',
    'M3FD_PALETTE', 'IRSTD_CLASSES', 'IRSTD_PALETTE', 'SODA_CLASSES',
    'SODA_PALETTE', 'MFNET_CLASSES', 'MFNET_PALETTE', 'SCUT_SEG_CLASSES',
    'SCUT_SEG_PALETTE'
]

RGB = Tuple[int, int, int]

#: Image file suffixes read by folders, curation and converters (compared in
#: lower case).
IMAGE_SUFFIXES: Tuple[str, ...] = ('.png', '.jpg', '.jpeg', '.bmp', '.tif',
                                   '.tiff', '.pgm')

#: MSRS semantic classes; the index is the value stored in the label PNGs.
MSRS_CLASSES: Tuple[str,
                    ...] = ('unlabelled', 'car', 'person', 'bike', 'curve',
                            'car_stop', 'guardrail', 'color_cone', 'bump')
#: The colours of the MSRS release's own visualisation (RGB), one per class.
MSRS_PALETTE: Tuple[RGB, ...] = ((0, 0, 0), (64, 0, 128), (64, 64, 0),
                                 (0, 128, 192), (0, 0, 192), (128, 128, 0),
                                 (64, 64, 128), (192, 128, 128), (192, 64, 0))

#: M3FD detection classes; COCO category id ``i + 1`` is ``M3FD_CLASSES[i]``
#: (the order mmdet users' M3FD configs use).
M3FD_CLASSES: Tuple[str, ...] = ('People', 'Car', 'Bus', 'Motorcycle', 'Lamp',
                                 'Truck')
#: One clearly different hue per M3FD class (RGB).
M3FD_PALETTE: Tuple[RGB, ...] = ((220, 20, 60), (0, 0, 230), (255, 165, 0),
                                 (0, 170, 0), (250, 250, 0), (148, 0, 211))

#: Single-class infrared small-target sets (IRSTD-1k, NUDT-SIRST, ...).
IRSTD_CLASSES: Tuple[str, ...] = ('background', 'target')
IRSTD_PALETTE: Tuple[RGB, ...] = ((0, 0, 0), (255, 64, 64))

#: SODA thermal segmentation (Li et al. 2020), 21 classes with background;
#: the order of UNIP's SODA dataset (label value = index).
SODA_CLASSES: Tuple[str, ...] = ('_background_', 'person', 'building', 'tree',
                                 'road', 'pole', 'grass', 'door', 'table',
                                 'chair', 'car', 'bicycle', 'lamp', 'monitor',
                                 'trafficCone', 'trash can', 'animal', 'fence',
                                 'sky', 'river', 'sidewalk')
#: The PASCAL VOC colour map (SODA is distributed in VOC layout), RGB.
SODA_PALETTE: Tuple[RGB, ...] = ((0, 0, 0), (128, 0, 0), (0, 128, 0),
                                 (128, 128, 0), (0, 0, 128), (128, 0, 128),
                                 (0, 128, 128), (128, 128, 128), (64, 0, 0),
                                 (192, 0, 0), (64, 128, 0), (192, 128, 0),
                                 (64, 0, 128), (192, 0, 128), (64, 128, 128),
                                 (192, 128, 128), (0, 64, 0), (128, 64, 0),
                                 (0, 192, 0), (128, 192, 0), (0, 64, 128))

#: MFNet, thermal channel only (MFNet-T): the 9 MSRS classes, with UNIP's
#: name for class 0.
MFNET_CLASSES: Tuple[str, ...] = ('_background_', ) + MSRS_CLASSES[1:]
#: UNIP's MFNet palette (RGB).
MFNET_PALETTE: Tuple[RGB, ...] = ((0, 0, 0), (128, 0, 0), (0, 128, 0),
                                  (128, 128, 0), (0, 0, 128), (128, 0, 128),
                                  (0, 128, 128), (128, 128, 128), (64, 0, 0))

#: SCUT-Seg thermal road scenes, 10 classes with background (UNIP's order).
SCUT_SEG_CLASSES: Tuple[str,
                        ...] = ('background', 'road', 'person', 'rider', 'car',
                                'truck', 'fence', 'tree', 'bus', 'pole')
#: UNIP's SCUT-Seg palette (Cityscapes-like colours).
SCUT_SEG_PALETTE: Tuple[RGB,
                        ...] = ((0, 0, 0), (128, 64, 128), (60, 20, 220),
                                (0, 0, 255), (142, 0, 0), (70, 0,
                                                           0), (153, 153, 190),
                                (35, 142, 107), (100, 60, 0), (153, 153, 153))
