"""The tree shows the architecture: packages by concern, no import circle between the project's modules, no folder of
more than 12 modules, every package saying in its docstring what it holds."""

import ast
import os
from typing import Dict, List, Set

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ('pipeline', 'transforms', 'launcher', 'comparison', 'devstack', 'benchmarks')
MAX_MODULES = 12


def module_files(root: str, packages=PACKAGES) -> Dict[str, str]:
    """Dotted module name -> file, for every .py file under `packages` (a package is named by its __init__.py)."""
    found = {}
    for package in packages:
        for folder, _, files in os.walk(os.path.join(root, package)):
            for name in files:
                if name.endswith('.py'):
                    rel = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
                    if rel[-1] == '__init__':
                        rel = rel[:-1]
                    found['.'.join(rel)] = os.path.join(folder, name)
    return found


def import_graph(modules: Dict[str, str]) -> Dict[str, Set[str]]:
    """Module -> the project's modules it imports anywhere in its body (function-level and TYPE_CHECKING imports
    count: a circle broken only by a late import is still a circle)."""
    graph: Dict[str, Set[str]] = {}
    for name, path in modules.items():
        with open(path, encoding='utf-8') as handle:
            tree = ast.parse(handle.read(), path)
        package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    parts = package.split('.')
                    base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    full = '%s.%s' % (base, alias.name)
                    if full in modules:
                        edges.add(full)
                    elif base in modules:
                        edges.add(base)
        edges.discard(name)
        graph[name] = edges
    return graph


def import_circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    circles: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def crowded_folders(root: str, folders=PACKAGES + ('tests',), limit: int = MAX_MODULES) -> Dict[str, int]:
    """Folders holding more than `limit` modules (.py files other than __init__.py)."""
    crowded = {}
    for top in folders:
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            count = sum(1 for name in files if name.endswith('.py') and name != '__init__.py')
            if count > limit:
                crowded[os.path.relpath(folder, root)] = count
    return crowded


def _write(root, rel, text=''):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)


def test_no_import_circle_between_the_projects_modules():
    modules = module_files(ROOT)
    assert 'transforms.oic.caller' in modules and 'comparison.sweep' in modules  # the walk sees subpackages
    assert import_circles(import_graph(modules)) == []


def test_no_folder_holds_more_than_12_modules():
    assert crowded_folders(ROOT) == {}


def test_every_package_says_what_it_holds():
    silent = []
    for name, path in module_files(ROOT).items():
        if path.endswith('__init__.py') and name.count('.') >= 1:
            with open(path, encoding='utf-8') as handle:
                if not ast.get_docstring(ast.parse(handle.read())):
                    silent.append(name)
    assert silent == []


def test_the_circle_check_finds_a_circle_closed_by_a_late_or_relative_import(tmp_path):
    _write(tmp_path, 'pkg/__init__.py')
    _write(tmp_path, 'pkg/sub/__init__.py')
    _write(tmp_path, 'pkg/a.py', 'from pkg.sub import b\n')
    _write(tmp_path, 'pkg/sub/b.py', 'from . import c\n')
    _write(tmp_path, 'pkg/sub/c.py', 'def f():\n    from pkg import a\n')
    _write(tmp_path, 'pkg/d.py', 'import pkg.a\n')
    graph = import_graph(module_files(str(tmp_path), ('pkg',)))
    assert graph['pkg.d'] == {'pkg.a'} and graph['pkg.sub.b'] == {'pkg.sub.c'}
    assert import_circles(graph) == [['pkg.a', 'pkg.sub.b', 'pkg.sub.c']]


def test_the_folder_check_counts_modules_not_packages_or_caches(tmp_path):
    for index in range(13):
        _write(tmp_path, 'pkg/m%d.py' % index)
    _write(tmp_path, 'pkg/__init__.py')
    _write(tmp_path, 'ok/__pycache__/x.py')
    assert crowded_folders(str(tmp_path), ('pkg', 'ok')) == {'pkg': 13}
