# Each dataset derives from its host's base class: imported only when that
# host is installed (infmae_mm.registry.host_available).
from infmae_mm.registry import host_available
from .samplers import SourceWeightedSampler
from .transforms import *  # noqa: F401,F403

__all__ = ['SourceWeightedSampler']
if host_available('mmpretrain'):
    from .image_folder import InfraredImageFolder
    __all__ += ['InfraredImageFolder']
if host_available('mmseg'):
    from .irstd import IRSTD1kDataset
    from .mfnet import MFNetThermalDataset
    from .msrs import MSRSInfDataset
    from .scut_seg import SCUTSegDataset
    from .soda import SODADataset
    __all__ += [
        'IRSTD1kDataset', 'MSRSInfDataset', 'MFNetThermalDataset',
        'SCUTSegDataset', 'SODADataset'
    ]
if host_available('mmdet'):
    from .m3fd import M3FDInfDataset
    __all__ += ['M3FDInfDataset']
