import logging
import os

import pytest
import torch
from mmengine.logging import MMLogger

# Two-core machines: keep torch from oversubscribing when pytest runs.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture
def warnings_logged():
    """A callable returning the messages of the warnings logged to the current
    MMLogger while the test runs."""
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    yield lambda: [
        r.getMessage() for r in records if r.levelno == logging.WARNING
    ]
    logger.removeHandler(handler)


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``cuda`` on machines without a CUDA device (the
    markers are registered in pytest.ini)."""
    if torch.cuda.is_available() or os.environ.get('INFMAE_TEST_DEVICE'):
        return  # INFMAE_TEST_DEVICE=cpu: dry run (tests/test_cuda.py)
    skip = pytest.mark.skip(reason='needs a CUDA device')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)
