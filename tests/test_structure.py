"""The house rules that the import-linter contract cannot see (docs/architecture.md).

- no private name (``_x``) of one module is imported or read by another module of the package;
- an import inside a function is there for start-up cost or an optional dependency, and says so
  with a ``# lazy:`` comment on its line or the line above;
- no source file is longer than ``MAX_LINES``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "mixassist"
MAX_LINES = 800
FILES = sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(module: str, node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    base = _module_name(path).split(".")
    if path.name != "__init__.py":
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _private_crossings(path: Path) -> list[str]:
    """Lines of ``path`` that import or read another module's private name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path)
    found: list[str] = []
    module_aliases: dict[str, str] = {}  # local name -> mixassist module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(here, node, path)
            if not source.startswith("mixassist"):
                continue
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if (PACKAGE.parent / Path(*target.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*target.split("."))
                ).is_dir():
                    module_aliases[alias.asname or alias.name] = target
                    if _is_private(alias.name) and source != here:
                        found.append(f"{path.name}:{node.lineno} imports private module {target}")
                elif _is_private(alias.name) and source != here:
                    found.append(f"{path.name}:{node.lineno} imports {source}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mixassist"):
                    if any(_is_private(part) for part in alias.name.split(".")):
                        found.append(f"{path.name}:{node.lineno} imports private module {alias.name}")
                    module_aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
            and module_aliases[node.value.id] != here
            and _is_private(node.attr)
        ):
            found.append(f"{path.name}:{node.lineno} reads {module_aliases[node.value.id]}.{node.attr}")
    return found


def _unexplained_lazy_imports(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines), filename=str(path))
    found: list[str] = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        imports = [node for node in ast.walk(func) if isinstance(node, ast.Import | ast.ImportFrom)]
        covered = {n for node in imports for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
        for node in imports:
            # A run of consecutive imports may share one comment above its first line.
            first = node.lineno
            while first - 1 in covered:
                first -= 1
            own = lines[node.lineno - 1 : node.end_lineno or node.lineno]
            above = lines[first - 2] if first >= 2 else ""
            if not any("# lazy:" in line for line in [*own, above]):
                found.append(f"{path.name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


def test_the_scan_sees_the_package() -> None:
    assert len(FILES) > 50
    assert PACKAGE / "api.py" in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_crosses_a_module(path: Path) -> None:
    assert _private_crossings(path) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_inside_functions_say_why(path: Path) -> None:
    assert _unexplained_lazy_imports(path) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_source_file_is_a_god_module(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by concept"


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The scanners find a private import, a private attribute read and an unexplained lazy import."""
    pkg = tmp_path / "mixassist"
    pkg.mkdir()
    (pkg / "a.py").write_text("_hidden = 1\n")
    b = pkg / "b.py"
    b.write_text(
        "from mixassist.a import _hidden\n"
        "from mixassist import a\n"
        "x = a._hidden\n"
        "def f():\n"
        "    import json\n"
        "    import math  # lazy: an explained one\n"
        "    # lazy: a run of two explained by one comment\n"
        "    import os\n"
        "    import sys\n"
        "    return json, math, os, sys\n"
    )
    global SRC, PACKAGE
    saved = SRC, PACKAGE
    SRC, PACKAGE = tmp_path, pkg
    try:
        crossings = _private_crossings(b)
        lazy = _unexplained_lazy_imports(b)
    finally:
        SRC, PACKAGE = saved
    assert crossings == ["b.py:1 imports mixassist.a._hidden", "b.py:3 reads mixassist.a._hidden"]
    assert lazy == ["b.py:5: import json"]
