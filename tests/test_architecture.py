"""The codebase keeps the shape the folder tree promises: one-way imports, small modules.

Read from the source with ``ast`` (every import, including those inside
functions, which is where a cycle would hide), so nothing here depends on
import order or on what happens to be loaded already.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "googlenet_core"
# A package module. 560, not 500, since every sentence a visitor reads is marked for the
# translation catalog: `_("... {n} ...").format(n=...)` takes a line or two more than an
# f-string did (googlenet_core/i18n).
MAX_LINES = 560
MAX_PAGE_LINES = 600  # a page, or a module of the pages' shared frame

#: The package's layers, lowest first: a module imports from its own layer or lower ones.
#: ``training`` is what one training process needs; ``service`` what only a long-lived
#: server shared by many browsers needs, above it.
LAYERS = (
    "_checks",
    "_io",
    "network",
    "data",
    "inference",
    "training",
    "service",
    "figures",
    "cli",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module of the package that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module
            for alias in node.names:  # "from . import evaluate" imports a module
                if f"{module}.{alias.name}" in MODULES:
                    yield f"{module}.{alias.name}"


def _graph() -> dict[str, set[str]]:
    return {
        name: {m for m in _imports(name, path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def test_no_module_of_the_package_imports_another_in_a_cycle() -> None:
    graph = _graph()
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_imports_run_one_way_through_the_layers() -> None:
    wrong = []
    for name, targets in _graph().items():
        mine = _layer(name)
        for target in targets:
            theirs = _layer(target)
            if target == "googlenet_core" or (
                mine is not None and theirs is not None and theirs > mine
            ):
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_training_knows_nothing_of_the_server() -> None:
    """A training process never asks what the host has left or who owns a run: the
    service decides that before it starts the process."""
    wrong = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if name.startswith("googlenet_core.training")
        for target in targets
        if target.startswith("googlenet_core.service") or target.endswith("._host")
    ]
    assert wrong == []


def test_the_package_never_imports_streamlit() -> None:
    offenders = [
        name
        for name, path in MODULES.items()
        if any(m.split(".")[0] == "streamlit" for m in _imports(name, path))
    ]
    assert offenders == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_needs_a_scroll_map(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def _dashboard_files() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]


@pytest.mark.parametrize("path", _dashboard_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_needs_a_scroll_map(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_PAGE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_the_dashboard_uses_only_streamlits_public_api() -> None:
    """``import streamlit as st`` and nothing from inside it (no runtime internals)."""
    private = []
    for path in _dashboard_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            private += [f"{path.name}: {n}" for n in names if n.startswith("streamlit.")]
    assert private == []


def test_pages_folder_holds_only_pages() -> None:
    """Streamlit makes every pages/*.py a page; shared code lives in a subfolder."""
    for path in (ROOT / "pages").glob("*.py"):
        assert "run_page(" in path.read_text(), f"{path.name} is not a page"


OUTSIDE_DOCUMENTS = re.compile(r"\bseeds? 0\d\d|\bthe seeds\b|\bseed notes?\b|\.\./shared")


def test_comments_and_help_text_cite_nothing_users_cannot_open() -> None:
    files = [*MODULES.values(), *_dashboard_files(), *sorted((ROOT / "benchmarks").glob("*.py"))]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if OUTSIDE_DOCUMENTS.search(line)
    ]
    assert found == []


def _packages() -> list[Path]:
    """Every folder of modules with a docstring that maps it: the package's and the pages'."""
    folders = [p.parent for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE]
    return [*sorted(folders), ROOT / "pages" / "common"]


@pytest.mark.parametrize("folder", _packages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_package_docstring_lists_its_modules(folder: Path) -> None:
    """A folder's ``__init__`` says what each of its modules is for, and none is missing."""
    docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
    missing = [
        p.name
        for p in sorted(folder.glob("*.py"))
        if p.name not in ("__init__.py", "__main__.py") and p.name not in docstring
    ]
    listed = set(re.findall(r"^ +(\w+\.py) ", docstring, re.MULTILINE))  # the map's rows
    gone = sorted(name for name in listed if not (folder / name).exists())
    assert (missing, gone) == ([], [])


def test_the_readme_layout_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    missing = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and path.name not in layout
    ]
    assert missing == []
