from .image_folder import InfraredImageFolder
from .irstd import IRSTD1kDataset
from .m3fd import M3FDInfDataset
from .msrs import MSRSInfDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'InfraredImageFolder', 'IRSTD1kDataset', 'M3FDInfDataset', 'MSRSInfDataset'
]
