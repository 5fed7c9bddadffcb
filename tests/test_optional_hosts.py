"""The package imports with any subset of the host codebases installed.

Each case imports ``infmae_mm`` in a fresh interpreter where some hosts are
hidden (an import finder answers ``import mmdet`` and its submodules with
ModuleNotFoundError, as for a package that is not installed). The hosts that
remain must get exactly the components they get with every host installed,
and nothing may import a hidden host.
"""
import itertools
import json
import os.path as osp
import subprocess
import sys

import pytest

from infmae_mm.registry import HOSTS

# Every case starts a fresh interpreter that imports all installed hosts.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Components registered into a host that need another host to exist at all
#: (their base class comes from it): absent when that other host is hidden.
NEEDS_OTHER_HOST = {
    'UNIPViT': 'mmpretrain',  # an mmpretrain VisionTransformer
}

#: Run in a subprocess: hide argv[1] (comma-separated hosts), import the
#: package, print {host: {registry: [infmae_mm component names]}} as JSON.
PROBE = r'''
import importlib
import importlib.abc
import json
import sys

HIDDEN = {h for h in sys.argv[1].split(',') if h}


class HideHosts(importlib.abc.MetaPathFinder):

    def find_spec(self, fullname, path, target=None):
        top = fullname.split('.')[0]
        if top in HIDDEN:
            raise ModuleNotFoundError(f'No module named {top!r} (hidden)',
                                      name=top)
        return None


sys.meta_path.insert(0, HideHosts())
import infmae_mm  # noqa: E402
from infmae_mm.models import InfMAEViT  # noqa: E402  (host-free core)

assert InfMAEViT.__module__.startswith('infmae_mm')
result = {}
for host in ('mmpretrain', 'mmseg', 'mmdet'):
    if host in HIDDEN:
        assert not any(m == host or m.startswith(host + '.')
                       for m in sys.modules), f'{host} was imported'
        continue
    registries = importlib.import_module(host + '.registry')
    names = {}
    for attr in dir(registries):
        registry = getattr(registries, attr)
        module_dict = getattr(registry, 'module_dict', None)
        if not isinstance(module_dict, dict):
            continue
        ours = sorted(n for n, obj in module_dict.items()
                      if getattr(obj, '__module__', '').startswith(
                          'infmae_mm'))
        if ours:
            names[attr] = ours
    result[host] = names
print('RESULT ' + json.dumps(result, sort_keys=True))
'''


def registered(hidden):
    proc = subprocess.run([sys.executable, '-c', PROBE, ','.join(hidden)],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=240)
    assert proc.returncode == 0, (
        f'import infmae_mm failed with {hidden} hidden:\n' +
        (proc.stdout + proc.stderr)[-3000:])
    line = next(ln for ln in proc.stdout.splitlines()
                if ln.startswith('RESULT '))
    return json.loads(line[len('RESULT '):])


@pytest.fixture(scope='module')
def all_hosts():
    return registered(())


def test_every_host_gets_components(all_hosts):
    assert set(all_hosts) == set(HOSTS)
    assert 'InfMAEViT' in all_hosts['mmpretrain']['MODELS']
    assert 'InfMAE' in all_hosts['mmpretrain']['MODELS']
    assert 'InfMAEViT' in all_hosts['mmseg']['MODELS']
    assert 'MSRSInfDataset' in all_hosts['mmseg']['DATASETS']
    assert 'InfMAEViT' in all_hosts['mmdet']['MODELS']
    assert 'M3FDInfDataset' in all_hosts['mmdet']['DATASETS']


@pytest.mark.parametrize(
    'hidden', [h for r in (1, 2, 3) for h in itertools.combinations(HOSTS, r)],
    ids=lambda h: 'without-' + '-'.join(h))
def test_remaining_hosts_register_as_with_all(all_hosts, hidden):
    got = registered(hidden)
    assert set(got) == set(HOSTS) - set(hidden)
    for host in got:
        expected = {}
        for registry, names in all_hosts[host].items():
            kept = [n for n in names if NEEDS_OTHER_HOST.get(n) not in hidden]
            if kept:
                expected[registry] = kept
        assert got[host] == expected, host
