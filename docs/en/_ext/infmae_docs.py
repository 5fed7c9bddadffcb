"""Pages of the docs site that are generated at build time.

A page holds a marker line ``<!-- infmae-docs: NAME -->``; when Sphinx reads
the page (``source-read``), the marker is replaced by the Markdown that
``GENERATORS[NAME]`` writes from the repository's own files:

* ``model-zoo``: ``model-index.yml`` and the ``metafile.yml`` it imports
  (collections, every config with its metadata and results), then the
  ``Results`` sections of ``configs/*/README.md`` (the papers' reference
  numbers, which are written only there);
* ``benchmarks``: every ``docs/benchmarks/*.json`` (the tables
  ``tools/analysis_tools/benchmark_speed.py`` and ``tools/gpu_check.sh``
  recorded, or the summary of a hand-made measurement);
* ``api``: one ``autoclass`` per component that ``import infmae_mm``
  registers into the hosts' registries, grouped by registry.

So no number is typed twice: the YAML and JSON files are the only source.
The functions are plain Python, usable without Sphinx
(``tests/test_docs.py`` calls them).
"""
import glob
import importlib
import json
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import yaml

#: The repository root (this file is docs/en/_ext/infmae_docs.py).
REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

MARKER = re.compile(r'^<!-- infmae-docs: ([\w-]+) -->$', re.M)


def _cell(value) -> str:
    """A table cell: pipes escaped, newlines folded, None as a dash."""
    if value is None or value == '' or value == {}:
        return '-'
    if isinstance(value, (list, tuple)):
        value = ', '.join(str(v) for v in value)
    return str(value).replace('|', '\\|').replace('\n', ' ')


def _table(header: List[str], rows: List[List]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(_cell(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


# --------------------------------------------------------------- model zoo
def load_model_index(repo: str = REPO) -> Tuple[List[dict], List[dict]]:
    """Collections and models of ``model-index.yml`` and its metafiles.

    Every ``configs/*/metafile.yml`` is read, imported by the index or not,
    so a metafile the index forgets still shows (and the test notices).

    Returns:
        tuple: (collections, models), each a list of dicts as in the YAML.
    """
    with open(osp.join(repo, 'model-index.yml'), encoding='utf-8') as f:
        index = yaml.safe_load(f)
    collections = list(index.get('Collections') or [])
    models = list(index.get('Models') or [])
    files = list(index.get('Import') or [])
    for path in sorted(
            glob.glob(osp.join(repo, 'configs', '*', 'metafile.yml'))):
        rel = osp.relpath(path, repo)
        if rel not in files:
            files.append(rel)
    for rel in files:
        with open(osp.join(repo, rel), encoding='utf-8') as f:
            meta = yaml.safe_load(f) or {}
        collections += list(meta.get('Collections') or [])
        models += list(meta.get('Models') or [])
    return collections, models


def _results(results) -> str:
    if not results:
        return 'no weights released, no results recorded'
    parts = []
    for result in results:
        metrics = result.get('Metrics') or {}
        text = f"{result.get('Task', '?')} on {result.get('Dataset', '?')}"
        if metrics:
            text += ': ' + ', '.join(f'{k} {v}' for k, v in metrics.items())
        else:
            text += ' (no metric measured yet)'
        parts.append(text)
    return '; '.join(parts)


def _demote(markdown: str, levels: int) -> str:
    return re.sub(
        r'^(#+) ',
        lambda m: '#' * (len(m.group(1)) + levels) + ' ',
        markdown,
        flags=re.M)


def _config_links_to_paths(markdown: str, folder: str) -> str:
    """``[name](file.py)`` of a config README -> ``configs/<folder>/file.py``.

    The docs site does not serve the configs, so a path the reader can open in
    the repository replaces the link.
    """

    def repl(m):
        target = m.group(2)
        if '://' in target:
            return m.group(0)
        return f'`{osp.normpath(osp.join("configs", folder, target))}`'

    return re.sub(r'\[([^\]]*)\]\(([^)]+)\)', repl, markdown)


def readme_results(repo: str = REPO) -> List[Tuple[str, str, str]]:
    """``(folder, title, results markdown)`` of each ``configs/*/README.md``.

    The sections whose heading starts with ``Results``.
    """
    out = []
    for path in sorted(glob.glob(osp.join(repo, 'configs', '*', 'README.md'))):
        folder = osp.basename(osp.dirname(path))
        with open(path, encoding='utf-8') as f:
            text = f.read()
        title = re.search(r'^# (.+)$', text, re.M)
        sections = re.split(r'^(?=## )', text, flags=re.M)
        results = [s for s in sections if s.startswith('## Results')]
        if not results:
            continue
        body = _config_links_to_paths(''.join(results), folder)
        out.append((folder, title.group(1) if title else folder,
                    _demote(body.strip(), 2)))
    return out


def model_zoo_markdown(repo: str = REPO) -> str:
    collections, models = load_model_index(repo)
    by_collection: Dict[str, List[dict]] = OrderedDict(
        (c['Name'], []) for c in collections)
    for model in models:
        by_collection.setdefault(model.get('In Collection', 'other'),
                                 []).append(model)
    rows = []
    for c in collections:
        meta = c.get('Metadata') or {}
        paper = c.get('Paper') or {}
        title = paper.get('Title', '')
        link = f"[{title}]({paper['URL']})" if paper.get('URL') else title
        rows.append([
            f"**{c['Name']}**", link,
            meta.get('Training Techniques'),
            meta.get('Architecture'),
            len(by_collection.get(c['Name'], []))
        ])
    parts = [
        '## Collections', '',
        _table([
            'collection', 'paper', 'training techniques', 'architecture',
            'configs'
        ], rows), ''
    ]
    for name, members in by_collection.items():
        if not members:
            continue
        parts += [f'## {name}', '']
        rows = []
        for m in sorted(members, key=lambda m: m['Name']):
            meta = m.get('Metadata') or {}
            rows.append([
                f"`{m['Name']}`", f"`{m.get('Config')}`",
                meta.get('Epochs'),
                meta.get('Batch Size'),
                meta.get('Training Data'),
                _results(m.get('Results'))
            ])
        parts += [
            _table([
                'model name (`get_model`)', 'config', 'epochs', 'batch',
                'training data', 'results'
            ], rows), ''
        ]
    parts += [
        '## Reference numbers of the papers', '',
        'The results the papers report for these recipes, as recorded in '
        "each config folder's README (not reproduced by this repository "
        'unless a row says so).', ''
    ]
    for folder, title, body in readme_results(repo):
        parts += [f'### `configs/{folder}`: {title}', '', body, '']
    return '\n'.join(parts)


# -------------------------------------------------------------- benchmarks
def _md_blocks(table: str) -> str:
    """A recorded plain-text table as Markdown: blank lines around tables.

    The benchmark prints a caption line, then tables, with notes in
    brackets right under a table; Markdown would read such a note as one
    more table row, so every table gets a blank line before and after.
    """
    out: List[str] = []
    in_table = False
    for line in table.strip('\n').split('\n'):
        is_row = line.startswith('|')
        if is_row != in_table and out and out[-1] != '':
            out.append('')
        in_table = is_row
        out.append(line if is_row or not line.strip() else line + '  ')
    return '\n'.join(out)


def _flatten(prefix: str, value, rows: List[List]):
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f'{prefix}.{k}' if prefix else str(k), v, rows)
    elif isinstance(value, list) and len(value) > 12:
        rows.append([f'`{prefix}`', f'{len(value)} values'])
    else:
        if isinstance(value, float):
            value = f'{value:.4g}'
        rows.append([f'`{prefix}`', value])


def benchmark_markdown(path: str) -> str:
    """One ``docs/benchmarks/*.json`` file as a page section."""
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    name = osp.basename(path)
    parts = [f'## `{name}`', '']
    for key in ('what', 'status'):
        if isinstance(data.get(key), str):
            parts += [f'**{key}**: {data[key]}', '']
    if data.get('generated'):
        parts += [f"Recorded {data['generated']}.", '']
    machine = data.get('machine') or (data.get('benchmark')
                                      or {}).get('machine')
    if isinstance(machine, dict) and machine.get('conditions'):
        parts += [f"Conditions: {machine['conditions']}", '']
    elif isinstance(machine, str):
        parts += [f'Machine: {machine}', '']
    if isinstance(data.get('load'), str):
        parts += [f"Load: {data['load']}", '']
    env = data.get('env')
    if isinstance(env, dict):
        versions = env.get('versions') or {}
        parts += [
            'Environment: ' +
            ', '.join(f'{k} {v}'
                      for k, v in [('python',
                                    env.get('python')), *versions.items()]), ''
        ]
    tests = data.get('tests')
    if isinstance(tests, dict) and tests.get('cases'):
        parts += [
            _table(['test', 'outcome', 's', 'message'], [[
                f"`{c['name']}`", c['outcome'],
                c.get('seconds'),
                c.get('message')
            ] for c in tests['cases']]), ''
        ]
    table = data.get('table') or (data.get('benchmark') or {}).get('table')
    if table:
        parts += [_md_blocks(table), '']
    elif isinstance(data.get('summary'), dict):
        rows: List[List] = []
        _flatten('', data['summary'], rows)
        parts += [_table(['summary', 'value'], rows), '']
    else:
        rows = []
        _flatten('', {
            k: v
            for k, v in data.items() if k not in ('what', 'status', 'load')
        }, rows)
        parts += [_table(['field', 'value'], rows), '']
    return '\n'.join(parts)


def benchmarks_markdown(repo: str = REPO) -> str:
    files = sorted(glob.glob(osp.join(repo, 'docs', 'benchmarks', '*.json')))
    return '\n'.join(benchmark_markdown(p) for p in files)


# ---------------------------------------------------------------------- api
#: Registry attribute -> section title on the API page.
REGISTRY_TITLES = OrderedDict([
    ('MODELS', 'Models (backbones, necks, heads, losses, algorithms)'),
    ('DATASETS', 'Datasets'),
    ('DATA_SAMPLERS', 'Data samplers'),
    ('TRANSFORMS', 'Data transforms'),
    ('METRICS', 'Metrics'),
    ('HOOKS', 'Hooks'),
    ('OPTIM_WRAPPER_CONSTRUCTORS', 'Optimizer wrapper constructors'),
    ('PARAM_SCHEDULERS', 'Parameter schedulers'),
])


def registered_components() -> 'OrderedDict[str, Dict[type, List[str]]]':
    """What ``import infmae_mm`` registers: registry -> class -> hosts.

    Read from the registries of every host that imports
    (``infmae_mm.registry.HOSTS``): the entries whose class is defined in
    ``infmae_mm``.
    """
    from mmengine.registry import Registry

    import infmae_mm  # noqa: F401  (registers)
    from infmae_mm.registry import HOSTS, host_available
    found: 'OrderedDict[str, Dict[type, List[str]]]' = OrderedDict()
    for host in HOSTS:
        if not host_available(host):
            continue
        module = importlib.import_module(f'{host}.registry')
        for attr in sorted(dir(module)):
            registry = getattr(module, attr)
            if not isinstance(registry, Registry):
                continue
            for cls in registry.module_dict.values():
                if getattr(cls, '__module__', '').startswith('infmae_mm'):
                    hosts = found.setdefault(attr, {}).setdefault(cls, [])
                    if host not in hosts:
                        hosts.append(host)
    order = list(REGISTRY_TITLES) + sorted(set(found) - set(REGISTRY_TITLES))
    return OrderedDict((k, found[k]) for k in order if k in found)


def _public_path(cls: type) -> str:
    """The shortest importable dotted path of ``cls`` under infmae_mm."""
    parts = cls.__module__.split('.')
    for i in range(1, len(parts) + 1):
        path = '.'.join(parts[:i])
        try:
            module = importlib.import_module(path)
        except ImportError:
            continue
        if getattr(module, cls.__name__, None) is cls:
            return f'{path}.{cls.__name__}'
    return f'{cls.__module__}.{cls.__name__}'


def api_markdown() -> str:
    parts = []
    documented = set()
    for registry, classes in registered_components().items():
        title = REGISTRY_TITLES.get(registry, registry)
        parts += [f'## {title}', '']
        rows = [[f'`{cls.__name__}`', ', '.join(hosts)]
                for cls, hosts in sorted(
                    classes.items(), key=lambda kv: kv[0].__name__)]
        parts += [
            f'Registered in `{registry}` of:', '',
            _table(['name', 'hosts'], rows), ''
        ]
        for cls, _ in sorted(classes.items(), key=lambda kv: kv[0].__name__):
            if cls in documented:  # in two registries: documented once
                continue
            documented.add(cls)
            parts += [
                '```{eval-rst}', f'.. autoclass:: {_public_path(cls)}',
                '   :members:', '   :show-inheritance:', '```', ''
            ]
    return '\n'.join(parts)


GENERATORS: Dict[str, Callable[[], str]] = {
    'model-zoo': model_zoo_markdown,
    'benchmarks': benchmarks_markdown,
    'api': api_markdown,
}


def expand(source: str) -> str:
    """Replace every marker line of ``source`` by its generated Markdown."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), source)


def _source_read(app, docname: str, source: List[str]):
    if MARKER.search(source[0]):
        source[0] = expand(source[0])


def setup(app):
    app.connect('source-read', _source_read)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
