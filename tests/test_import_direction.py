"""Runtime code never imports offline code.

Offline packages (data curation, converters, generated test data) may use
the runtime package; the runtime package (datasets, transforms, models,
evaluation, engine, ...) must not import them, nor the ``tools/`` scripts,
so that training never depends on code that only prepares data. Imports are
read with :mod:`ast` from every module's source, relative imports resolved,
including imports inside functions.
"""
import ast
import os
import os.path as osp
from typing import Iterator, List, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(REPO, 'infmae_mm')
#: Sub-packages of infmae_mm that hold offline code.
OFFLINE = ('curation', 'testing', 'converters')
FORBIDDEN = tuple(f'infmae_mm.{name}' for name in OFFLINE) + ('tools', 'tests')


def _module_name(path: str, root: str = REPO) -> str:
    rel = osp.relpath(path, root)[:-len('.py')].replace(os.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def _imports(path: str, root: str = REPO) -> Iterator[Tuple[int, str]]:
    """(line, absolute module name) of every import in a file under root."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    module = _module_name(path, root)
    package = module if path.endswith('__init__.py') else \
        module.rpartition('.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1])
                name = f'{base}.{node.module}' if node.module else base
            else:
                name = node.module
            yield node.lineno, name
            # `from infmae_mm import curation` imports a sub-package too.
            for alias in node.names:
                yield node.lineno, f'{name}.{alias.name}'


def _runtime_modules() -> List[str]:
    paths = []
    for dirpath, dirnames, filenames in os.walk(PACKAGE):
        rel = osp.relpath(dirpath, PACKAGE).split(os.sep)
        if rel[0] in OFFLINE:
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        paths += [osp.join(dirpath, f) for f in filenames if f.endswith('.py')]
    return sorted(paths)


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + '.') for f in FORBIDDEN)


def test_the_parser_resolves_relative_imports(tmp_path):
    # A planted module proves the check can fail: a relative import of
    # curation from a datasets module resolves to infmae_mm.curation.
    path = osp.join(PACKAGE, 'datasets', 'transforms', 'loading.py')
    names = [name for _, name in _imports(path)]
    assert 'infmae_mm.datasets.image_decoding' in names
    fake = tmp_path / 'infmae_mm' / 'datasets' / 'bad.py'
    fake.parent.mkdir(parents=True)
    fake.write_text('from ..curation import curate\n'
                    'def f():\n    from infmae_mm import testing\n')
    found = [n for _, n in _imports(str(fake), str(tmp_path)) if _forbidden(n)]
    assert 'infmae_mm.curation' in found
    assert 'infmae_mm.testing' in found


def test_offline_packages_exist():
    for name in OFFLINE:
        assert osp.isfile(osp.join(PACKAGE, name, '__init__.py')), name
    assert not osp.exists(osp.join(PACKAGE, 'datasets', 'curation.py'))
    assert not osp.exists(osp.join(PACKAGE, 'datasets', 'synthetic.py'))


@pytest.mark.parametrize(
    'path', _runtime_modules(), ids=lambda p: osp.relpath(p, PACKAGE))
def test_runtime_module_does_not_import_offline_code(path):
    bad = [(line, name) for line, name in _imports(path) if _forbidden(name)]
    assert not bad, (f'{osp.relpath(path, REPO)} imports offline code: '
                     f'{bad}; move the shared piece into the runtime '
                     'package (e.g. infmae_mm/datasets/metainfo.py)')
