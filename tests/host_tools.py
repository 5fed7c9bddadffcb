"""Run the OpenMMLab host tools (mim, tools/*.py) as a user would."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import types
from typing import List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BIN = osp.dirname(sys.executable)


def run(cmd: List[str], timeout: int = 600) -> str:
    """Run ``cmd`` from the repository root; fail with its output tail."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd[:4])} failed:\n{out[-4000:]}'
    return out


def loader_options(*loaders: str, data_root: str) -> List[str]:
    """Cfg-options pointing loaders at ``data_root`` with no worker
    processes."""
    opts = []
    for loader in loaders:
        opts += [
            f'{loader}.dataset.data_root={data_root}',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False'
        ]
    return opts


def write_config(path: str, base: str, overrides: str) -> str:
    """A config file inheriting ``base`` (absolute) with python overrides."""
    with open(path, 'w') as f:
        f.write(f'_base_ = {base!r}\n{overrides}\n')
    return path


def load_tool(relpath: str) -> types.ModuleType:
    """A script of tools/ (a path relative to the repository) as a module."""
    spec = importlib.util.spec_from_file_location(
        'tool_' + osp.basename(relpath)[:-3], osp.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
