from .gray import ConvertToGray
from .iam_mask import IAMMaskGenerator
from .loading import LoadThermalImage, ThermalNormalize

__all__ = [
    'ConvertToGray', 'IAMMaskGenerator', 'LoadThermalImage', 'ThermalNormalize'
]
