"""Shipped code imports only shipped code: no module of a package that setup.py ships (what Dataflow workers install)
imports the local tooling (launcher/, comparison/, devstack/, benchmarks/), anywhere in its body (imports inside
functions count). The only exceptions are the two `python -m` entry shims, and only under `if __name__ ==
'__main__':`. Likewise the Flex template's image: what its entry point imports when it loads is in the folders the
Dockerfile copies (devstack/ is not: comparison imports its admin client only for a stand-in on this machine)."""

import ast
import os
import re
from typing import List, Sequence, Set

import setuptools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCAL_TOOLING = ('launcher', 'comparison', 'devstack', 'benchmarks')
# `python -m pipeline.run` and `python -m pipeline.compare` stay the documented commands: each hands over to the
# tooling's own entry point when run, never when imported.
ENTRY_SHIMS = {os.path.join('pipeline', 'run.py'): 'launcher.run',
               os.path.join('pipeline', 'compare.py'): 'comparison.compare'}


def shipped_packages(root: str) -> List[str]:
    """The packages setup.py ships: its find_packages(include=[...]) run on `root`."""
    with open(os.path.join(root, 'setup.py'), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == 'find_packages':
            include = next(ast.literal_eval(k.value) for k in node.keywords if k.arg == 'include')
            return sorted(setuptools.find_packages(where=root, include=include))
    raise AssertionError('setup.py calls no find_packages(include=[...])')


def _imported(node: ast.AST, package: str) -> List[str]:
    """The dotted modules an import statement (or an importlib.import_module / __import__ of a literal) names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ''
        if node.level:
            parts = package.split('.')
            base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
        return [base]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        name = getattr(node.func, 'attr', None) or getattr(node.func, 'id', None)
        if name in ('import_module', '__import__') and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


def _under_main_guard(tree: ast.Module) -> set:
    """The nodes inside a top-level `if __name__ == '__main__':` block."""
    guarded = set()
    for statement in tree.body:
        test = getattr(statement, 'test', None)
        if (isinstance(statement, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id == '__name__' and isinstance(test.comparators[0], ast.Constant)
                and test.comparators[0].value == '__main__'):
            guarded.update(ast.walk(statement))
    return guarded


def tooling_imports(root: str, packages: Sequence[str], tooling=LOCAL_TOOLING, shims=None) -> List[str]:
    """'path:line imports module' for every import of the local tooling by a module of `packages` (each package's
    own .py files), but for a shim's own entry point under its __main__ guard."""
    shims = ENTRY_SHIMS if shims is None else shims
    found = []
    for package in packages:
        folder = os.path.join(root, *package.split('.'))
        for name in sorted(os.listdir(folder)):
            if not name.endswith('.py'):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding='utf-8') as handle:
                tree = ast.parse(handle.read(), path)
            allowed = _under_main_guard(tree) if rel in shims else set()
            for node in ast.walk(tree):
                for module in _imported(node, package):
                    if module.split('.')[0] not in tooling:
                        continue
                    if node in allowed and module == shims[rel]:
                        continue
                    found.append('%s:%d imports %s' % (rel, node.lineno, module))
    return found


def _module_level_imports(path: str, package: str) -> List[str]:
    """What a module imports when it loads: every import but those inside a function (run only when called)."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    found: List[str] = []
    pending: List[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.ImportFrom):
                base = _imported(child, package)[0]
                found.extend([base] + ['%s.%s' % (base, alias.name) for alias in child.names])
            else:
                found.extend(_imported(child, package))
            pending.append(child)
    return found


def loaded_modules(root: str, entry: str) -> List[str]:
    """The project's modules that loading the module `entry` (dotted) loads, packages' __init__ included."""
    seen: Set[str] = set()
    pending = [entry]
    while pending:
        name = pending.pop()
        parts = name.split('.')
        for depth in range(1, len(parts) + 1):
            module = '.'.join(parts[:depth])
            if module in seen:
                continue
            base = os.path.join(root, *module.split('.'))
            path = next((p for p in (base + '.py', os.path.join(base, '__init__.py')) if os.path.isfile(p)), None)
            if path is None:
                break
            seen.add(module)
            package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
            pending.extend(_module_level_imports(path, package))
    return sorted(seen)


def _write(root, rel, text=''):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)


def test_setup_ships_pipeline_and_transforms_only():
    shipped = shipped_packages(ROOT)
    assert 'pipeline' in shipped and 'transforms' in shipped and 'transforms.oic' in shipped
    assert not [p for p in shipped if p.split('.')[0] in LOCAL_TOOLING]


def test_no_shipped_module_imports_local_tooling():
    assert tooling_imports(ROOT, shipped_packages(ROOT)) == []


def test_the_check_finds_late_relative_and_dynamic_imports_and_allows_only_guarded_shims(tmp_path):
    _write(tmp_path, 'setup.py', "import setuptools\nsetuptools.setup(packages=setuptools.find_packages("
                                 "include=['ship', 'ship.*']))\n")
    _write(tmp_path, 'ship/__init__.py')
    _write(tmp_path, 'ship/sub/__init__.py', 'from devstack import stack\n')
    _write(tmp_path, 'ship/sub/late.py', 'def f():\n    import comparison.report\n')
    _write(tmp_path, 'ship/sub/dynamic.py', 'import importlib\nimportlib.import_module("launcher.run")\n')
    _write(tmp_path, 'ship/fine.py', 'import json\nfrom . import sub\nfrom .sub import late\n')
    _write(tmp_path, 'ship/run.py', 'from launcher import config\nif __name__ == "__main__":\n'
                                    '    from launcher.run import cli\n    from benchmarks import x\n')
    _write(tmp_path, 'tools/x.py', 'import devstack\n')
    assert shipped_packages(str(tmp_path)) == ['ship', 'ship.sub']
    found = tooling_imports(str(tmp_path), shipped_packages(str(tmp_path)),
                            shims={os.path.join('ship', 'run.py'): 'launcher.run'})
    assert found == ['ship/run.py:1 imports launcher', 'ship/run.py:4 imports benchmarks',
                     'ship/sub/__init__.py:1 imports devstack', 'ship/sub/dynamic.py:2 imports launcher.run',
                     'ship/sub/late.py:2 imports comparison.report']


def test_the_template_image_holds_what_its_entry_point_loads():
    with open(os.path.join(ROOT, 'Dockerfile'), encoding='utf-8') as handle:
        text = handle.read()
    entry = re.search(r'FLEX_TEMPLATE_PYTHON_PY_FILE="\$\{WORKDIR\}/([^"]+)\.py"', text).group(1).replace('/', '.')
    copied = {path.strip('./') for path in re.findall(r'^COPY (\S+)', text, re.M)}
    loaded = loaded_modules(ROOT, entry)
    assert 'comparison.report' in loaded and 'transforms.records' in loaded  # the walk follows the entry's imports
    assert [m for m in loaded if m.split('.')[0] not in copied] == []
