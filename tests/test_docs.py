"""The documentation names only what exists.

Every config path, tool path and registry name that a page of ``docs/en``
(or the README) mentions must exist: config and tool files in this
repository (or, for ``mmdet::...`` configs and ``.mim/tools``, in the
host), registry names in the registries of the installed hosts. The pages
generated at build time (model zoo, benchmarks, API) are checked through
their generators. ``make docs`` builds the site itself (warnings are
errors); this test stays fast and runs with the others.
"""
import glob
import importlib
import inspect
import os.path as osp
import pkgutil
import re
import sys
from functools import lru_cache
from typing import Dict, Iterator, List, Set, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = osp.join(REPO, 'docs', 'en')
sys.path.insert(0, osp.join(DOCS, '_ext'))
import infmae_docs  # noqa: E402

HOSTS = ('mmpretrain', 'mmseg', 'mmdet')

#: Names in backticks that look like classes but are not registry
#: components: Python / PyTorch / host objects the pages mention by name.
NOT_COMPONENTS = {
    'Namespace', 'HistoryBuffer', 'PytorchStreamReader', 'FeatureExtractor',
    'CheckpointFileError', 'Function', 'LayerNorm', 'GELU', 'Conv1d', 'Conv2d',
    'Runner', 'Registry', 'Config', 'OptimWrapper', 'DataSample',
    'ReconstructionPredictMixin', 'BaseSelfSupervisor', 'BaseSegDataset',
    'CocoDataset', 'SplitListSegDataset', 'PatchScorer', 'IAMMasking',
    'TransformerBlock', 'DatasetDefectError', 'RoIAlign'
}


def doc_pages() -> List[str]:
    """The hand-written pages (``_ext`` and other ``_*`` folders excluded)."""
    pages = []
    for path in sorted(
            glob.glob(osp.join(DOCS, '**', '*.md'), recursive=True)):
        rel = osp.relpath(path, DOCS)
        if not any(part.startswith('_') for part in rel.split(osp.sep)):
            pages.append(path)
    return pages


def texts() -> Iterator[Tuple[str, str]]:
    """(name, text) of every page, the README and the generated pages."""
    for path in doc_pages() + [osp.join(REPO, 'README.md')]:
        with open(path, encoding='utf-8') as f:
            yield osp.relpath(path, REPO), f.read()
    yield 'generated model zoo', infmae_docs.model_zoo_markdown()
    yield 'generated benchmarks', infmae_docs.benchmarks_markdown()


def expand_braces(pattern: str) -> List[str]:
    """``a-{b,c}_*.py`` -> ``['a-b_*.py', 'a-c_*.py']`` (nested too)."""
    match = re.search(r'\{([^{}]*)\}', pattern)
    if not match:
        return [pattern]
    out = []
    for alt in match.group(1).split(','):
        out += expand_braces(pattern[:match.start()] + alt +
                             pattern[match.end():])
    return out


def exists(pattern: str, root: str = REPO) -> bool:
    """Whether every brace alternative of a (glob) path matches a file."""
    pattern = pattern.replace('...', '*')
    return all(
        glob.glob(osp.join(root, alt), recursive=True)
        for alt in expand_braces(pattern))


def host_root(host: str) -> str:
    return osp.join(
        osp.dirname(importlib.import_module(host).__file__), '.mim')


# --------------------------------------------------------------- file paths
PATH = r'(?<![\w/.:-])((?:configs|tools)/[\w./{},*-]*\.(?:py|sh))'
HOST_CONFIG = r'\b(mmpretrain|mmseg|mmdet)::([\w./{},*-]+\.py)'
HOST_TOOL = r'\b(mmpretrain|mmseg|mmdet)/\.mim/(tools/[\w./-]+\.py)'
BARE_PY = r'`([\w.{},*-]+\.py)`'


def test_config_and_tool_paths_exist():
    missing = []
    for name, text in texts():
        for path in re.findall(PATH, text):
            if not exists(path):
                missing.append(f'{name}: {path}')
        for host, path in re.findall(HOST_CONFIG, text):
            if not exists(osp.join('configs', path), host_root(host)):
                missing.append(f'{name}: {host}::{path}')
        for host, path in re.findall(HOST_TOOL, text):
            if not exists(path, host_root(host)):
                missing.append(f'{name}: {host}/.mim/{path}')
    assert not missing, 'paths that do not exist:\n' + '\n'.join(missing)


def test_bare_file_names_exist():
    """``name.py`` in backticks: a file of that name in the repository (a
    config named in a table of its folder's page) or in a host's tools."""
    missing = []
    for name, text in texts():
        for file in set(re.findall(BARE_PY, text)):
            if exists(osp.join('**', file)):
                continue
            if any(
                    exists(osp.join('tools', '**', file), host_root(h))
                    for h in HOSTS):
                continue
            missing.append(f'{name}: {file}')
    assert not missing, 'files that do not exist:\n' + '\n'.join(missing)


# ----------------------------------------------------------- registry names
@lru_cache()
def registered_names() -> Dict[str, Set[str]]:
    """Scope -> every name registered in that scope's registries."""
    from mmengine.registry import Registry

    import infmae_mm  # noqa: F401  (registers)
    names: Dict[str, Set[str]] = {}
    for scope in ('mmengine', ) + HOSTS:
        module = importlib.import_module(f'{scope}.registry')
        for attr in dir(module):
            registry = getattr(module, attr)
            if isinstance(registry, Registry):
                names.setdefault(scope, set()).update(registry.module_dict)
    return names


@lru_cache()
def package_names() -> Set[str]:
    """Classes and functions defined in infmae_mm (importable names)."""
    import infmae_mm
    found = set()
    for info in pkgutil.walk_packages(infmae_mm.__path__, 'infmae_mm.'):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # a module of a host that is not installed
            continue
        for key, value in vars(module).items():
            if (inspect.isclass(value) or inspect.isfunction(value)) and \
                    value.__module__.startswith('infmae_mm'):
                found.add(key)
    return found


def is_registered(name: str) -> bool:
    names = registered_names()
    scope, _, short = name.rpartition('.')
    if scope:
        return short in names.get(scope, set())
    return any(name in found for found in names.values())


TYPE = r'''\btype=['"]([\w.]+)['"]'''
CAMEL = r'`([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(?:\([^`]*\))?`'
#: A table whose first column holds registry names.
REGISTRY_TABLE = re.compile(r'^\| registry name \|.*\n\|[-| ]+\n((?:\|.*\n)*)',
                            re.M)


def test_type_names_are_registered():
    """Every ``type='Name'`` of a config snippet or a sentence."""
    missing = []
    for name, text in texts():
        for type_name in set(re.findall(TYPE, text)):
            if not is_registered(type_name):
                missing.append(f'{name}: {type_name}')
    assert not missing, 'type names in no registry:\n' + '\n'.join(missing)


def test_registry_tables_name_registered_components():
    rows = 0
    missing = []
    for name, text in texts():
        for table in REGISTRY_TABLE.findall(text):
            for line in table.splitlines():
                rows += 1
                first = line.split('|')[1].strip().strip('`')
                if not is_registered(first):
                    missing.append(f'{name}: {first}')
    assert rows > 10, 'the registry-name tables were not found'
    assert not missing, 'not registered:\n' + '\n'.join(missing)


def test_component_names_in_backticks_exist():
    """`CamelCase` names: registered somewhere, or defined by the package.

    A renamed or removed component leaves its old name in the prose; this
    finds it. Python, torch and host objects that are not registry
    components are listed in ``NOT_COMPONENTS``.
    """
    missing = []
    for name, text in texts():
        for word in set(re.findall(CAMEL, text)):
            if word in NOT_COMPONENTS or is_registered(word):
                continue
            if word in package_names():
                continue
            missing.append(f'{name}: {word}')
    assert not missing, ('names neither registered nor defined by '
                         'infmae_mm:\n' + '\n'.join(sorted(missing)))


# --------------------------------------------------------- generated pages
def test_model_zoo_lists_every_metafile_model():
    collections, models = infmae_docs.load_model_index()
    assert models and collections
    names = {c['Name'] for c in collections}
    page = infmae_docs.model_zoo_markdown()
    for model in models:
        assert osp.isfile(osp.join(REPO, model['Config'])), model['Config']
        assert model['In Collection'] in names, model['Name']
        assert f"`{model['Name']}`" in page
    for folder, _, _ in infmae_docs.readme_results():
        assert f'`configs/{folder}`' in page


def test_benchmarks_page_renders_every_json():
    files = glob.glob(osp.join(REPO, 'docs', 'benchmarks', '*.json'))
    page = infmae_docs.benchmarks_markdown()
    assert files
    for path in files:
        assert f'## `{osp.basename(path)}`' in page
    # A note under a recorded table is not read as one more table row.
    for block in re.split(r'\n\s*\n', page):
        lines = block.splitlines()
        if lines and lines[0].startswith('|'):
            assert all(line.startswith('|') for line in lines), block


def test_api_page_documents_every_registered_component():
    components = infmae_docs.registered_components()
    page = infmae_docs.api_markdown()
    classes = {cls for found in components.values() for cls in found}
    assert len(classes) > 30
    for cls in classes:
        assert re.search(rf'\.\. autoclass:: [\w.]*\.{cls.__name__}\n', page)
        path = re.search(rf'\.\. autoclass:: ([\w.]*\.{cls.__name__})\n',
                         page).group(1)
        module, _, attr = path.rpartition('.')
        assert getattr(importlib.import_module(module), attr) is cls


def test_markers_name_known_generators():
    for path in doc_pages():
        with open(path, encoding='utf-8') as f:
            for marker in infmae_docs.MARKER.findall(f.read()):
                assert marker in infmae_docs.GENERATORS, (path, marker)


# ------------------------------------------------------------------ links
LINK = r'\]\(([^)\s]+)\)'


@pytest.mark.parametrize('page', [osp.join(REPO, 'README.md')] + doc_pages())
def test_relative_links_resolve(page):
    """Relative links point at files (and headings) that exist."""
    with open(page, encoding='utf-8') as f:
        text = f.read()
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    for target in re.findall(LINK, text):
        if '://' in target or target.startswith('mailto:'):
            continue
        file, _, anchor = target.partition('#')
        path = osp.normpath(osp.join(osp.dirname(page), file)) \
            if file else page
        assert osp.exists(path), f'{page}: {target}'
        if anchor and path.endswith('.md'):
            with open(path, encoding='utf-8') as f:
                slugs = {
                    slug(h)
                    for h in re.findall(r'^#+ (.+)$', f.read(), re.M)
                }
            assert anchor in slugs, f'{page}: {target}'


def slug(heading: str) -> str:
    """GitHub's (and MyST's) anchor of a heading."""
    text = re.sub(r'[`*]', '', heading.strip()).lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def test_readme_is_short_and_points_to_the_docs():
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    assert readme.count('\n') < 300
    assert '## Real infrared results' in readme
    for command in ('make demo', 'make test'):
        assert command in readme
    for page in ('get_started.md', 'model_zoo.md', 'benchmarks.md',
                 'user_guides/transfer_benchmark.md'):
        assert f'docs/en/{page}' in readme, page
