"""Offline dataset converters; their command lines are under
``tools/dataset_converters/``.

Nothing in the runtime package imports them.
"""
