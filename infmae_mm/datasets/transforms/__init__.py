from .iam_mask import IAMMaskGenerator

__all__ = ['IAMMaskGenerator']
