"""The GPU-only tests run on a lent GPU host a few times a month; the CPU suite must catch them calling an API that
has since changed (seen on 2026-12-01: `AgentBudgets(skim_max_frames=...)` after the budget refactor failed only on
the H200). Every GPU test module is imported here (its skip marks apply at collection, not at import), its
`build_*` helpers are called, and the keyword arguments its tests pass to our functions are bound against the
current signatures.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
GPU_MODULES = sorted(p for p in TESTS.glob("test_gpu_*.py") if p.name != Path(__file__).name)


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_gpu_drift_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_there_is_a_gpu_module_to_check():
    assert any(p.name == "test_gpu_engines.py" for p in GPU_MODULES)


@pytest.mark.parametrize("path", GPU_MODULES, ids=lambda p: p.name)
def test_gpu_module_builders_run_on_cpu(path):
    mod = _load(path)
    builders = [f for name, f in vars(mod).items() if name.startswith("build_") and callable(f)]
    assert builders, (
        f"{path.name}: no build_* helper; build the objects its tests need in one, so CPU CI can call it"
    )
    for build in builders:
        build()


def _our_calls(tree: ast.AST, names: dict[str, object]):
    """(function, keyword names) for every call in the module to a function imported from longvt_plugins."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
            kws = [k.arg for k in node.keywords if k.arg is not None]
            yield names[node.func.id], kws, len(node.args), any(k.arg is None for k in node.keywords)


@pytest.mark.parametrize("path", GPU_MODULES, ids=lambda p: p.name)
def test_gpu_module_calls_match_current_signatures(path):
    tree = ast.parse(path.read_text())
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("longvt_plugins"):
            mod = importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(mod, alias.name, None)
                assert obj is not None, f"{path.name}: {node.module} has no {alias.name}"
                names[alias.asname or alias.name] = obj
    checked = 0
    for func, kws, nargs, has_star in _our_calls(tree, names):
        if not callable(func) or has_star:
            continue
        sig = inspect.signature(func)
        sig.bind_partial(*([None] * nargs), **dict.fromkeys(kws))  # TypeError on a removed/renamed argument
        checked += 1
    assert checked, f"{path.name}: no call to a longvt_plugins function found (the check would be vacuous)"
