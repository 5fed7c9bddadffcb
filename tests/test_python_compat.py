"""The sources keep to what ``python_requires`` in setup.py promises.

The reference stack runs Python 3.11; setup.py declares 3.8 and later. This
test parses every module of the package, its tools and its configs with
Python 3.8's grammar and looks for the run-time uses of 3.9+ features that
parse but fail on import or call in 3.8 (built-in generics and ``X | Y`` in
evaluated annotations, ``str.removeprefix``, ``int.bit_count``, ...).
"""
import ast
import glob
import os.path as osp
import re

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIN_VERSION = (3, 8)
#: Attribute calls and names that appeared after 3.8.
NEWER_ATTRIBUTES = {
    'removeprefix': '3.9',
    'removesuffix': '3.9',
    'bit_count': '3.10',
    'is_relative_to': '3.9',
    'with_stem': '3.9',
    'cache': '3.9 (functools.cache; use lru_cache(maxsize=None))',
    'lcm': '3.9',
    'pairwise': '3.10',
    'batched': '3.12',
}
BUILTIN_GENERICS = {'list', 'dict', 'tuple', 'set', 'frozenset', 'type'}


def sources():
    files = []
    for pattern in ('infmae_mm/**/*.py', 'tools/**/*.py', 'configs/**/*.py',
                    'setup.py'):
        files += glob.glob(osp.join(REPO, pattern), recursive=True)
    return sorted(files)


def test_python_requires_matches_the_checked_version():
    with open(osp.join(REPO, 'setup.py')) as f:
        declared = re.search(r"python_requires='>=(\d+)\.(\d+)'", f.read())
    assert declared, 'setup.py must declare python_requires=">=3.X"'
    assert tuple(map(int, declared.groups())) == MIN_VERSION


def annotation_problems(node: ast.AST):
    """3.9+ constructs inside an evaluated annotation."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript) and isinstance(
                sub.value, ast.Name) and sub.value.id in BUILTIN_GENERICS:
            yield f'{sub.value.id}[...] (3.9)'
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr):
            yield 'X | Y (3.10)'


@pytest.mark.parametrize('path', sources(), ids=lambda p: osp.relpath(p, REPO))
def test_source_runs_on_the_oldest_declared_python(path):
    with open(path, encoding='utf-8') as f:
        text = f.read()
    tree = ast.parse(text, path, feature_version=MIN_VERSION)
    postponed = any(
        isinstance(n, ast.ImportFrom) and n.module == '__future__' and any(
            a.name == 'annotations' for a in n.names) for n in tree.body)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in NEWER_ATTRIBUTES \
                and isinstance(getattr(node, 'ctx', None), ast.Load):
            problems.append(f'line {node.lineno}: .{node.attr} needs Python '
                            f'{NEWER_ATTRIBUTES[node.attr]}')
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            annotations += [
                a.annotation for a in args.posonlyargs + args.args +
                args.kwonlyargs + [args.vararg, args.kwarg]
                if a is not None and a.annotation is not None
            ]
            if node.returns is not None:
                annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        if postponed:
            continue
        for annotation in annotations:
            for problem in annotation_problems(annotation):
                problems.append(f'line {annotation.lineno}: {problem}')
    assert not problems, (f'{osp.relpath(path, REPO)} does not run on Python '
                          f'{MIN_VERSION}: ' + '; '.join(problems))
