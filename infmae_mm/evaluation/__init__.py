from infmae_mm.registry import host_available
from .attention_nmi import DEFAULT_NMI_BANDS, attention_nmi, nmi_band
from .reconstruction import (FILLS, image_scores, mask_sets_of, masked_mse,
                             psnr, record_scores, summarize, summary_table)

__all__ = [
    'DEFAULT_NMI_BANDS', 'attention_nmi', 'nmi_band', 'FILLS', 'image_scores',
    'mask_sets_of', 'masked_mse', 'psnr', 'record_scores', 'summarize',
    'summary_table'
]
# An mmseg metric (prettytable, its table printer, comes with mmseg).
if host_available('mmseg'):
    from .irstd_metric import IRSTDMetric
    __all__ += ['IRSTDMetric']
# A pre-training metric (mmpretrain's registry).
if host_available('mmpretrain'):
    from .reconstruction_metric import ReconstructionMetric
    __all__ += ['ReconstructionMetric']
