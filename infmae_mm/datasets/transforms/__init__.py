from .iam_mask import IAMMaskGenerator
from .loading import LoadThermalImage, ThermalNormalize

__all__ = ['IAMMaskGenerator', 'LoadThermalImage', 'ThermalNormalize']
