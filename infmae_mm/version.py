__version__ = '0.2.0'
#: (major, minor, patch), as OpenMMLab packages expose it.
version_info = tuple(int(x) for x in __version__.split('.'))
