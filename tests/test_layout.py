"""The package's layout is its architecture: stage packages in pipeline order, no upward import, no cycle.

Read from the source with `ast` (no import of the package, no third-party tool): every `import` and
`from ... import` of fashion_lib counts, inside functions and under `TYPE_CHECKING` too, since each is a
dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fashion_lib import config

PACKAGE = config.PROJECT_ROOT / "fashion_lib"

# The stages in pipeline order; a module may import its own stage and earlier ones, never a later one.
STAGES = ("ground", "data", "models", "training", "search", "analysis", "report", "commands")
GROUND = {"__init__", "config", "storage", "seeding", "machine", "terminal", "progress", "results", "scores"}
COMMANDS = {"__main__", "cli", "predict", "bench"}
MAX_LINES = 450


def stage_of(module: str) -> str:
    """The stage of a dotted module name below fashion_lib ("search.tuning" -> "search")."""
    first = module.split(".")[0]
    if first in GROUND:
        return "ground"
    if first in COMMANDS:
        return "commands"
    if first == "data" or first in STAGES:
        return first
    raise ValueError(f"fashion_lib.{module} belongs to no stage: add it to a stage package or to GROUND/COMMANDS.")


def modules(package: Path) -> dict[str, Path]:
    """Dotted name below the package ("report.cache", "models" for models/__init__.py) -> file."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: set[str], package_name: str = "fashion_lib") -> set[str]:
    """The package's modules that the file imports, as dotted names below the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from fashion_lib.report import pipeline` depends on report.pipeline; `from fashion_lib.data
            # import Splits` on data.
            below = node.module[len(package_name) + 1 :]
            submodules = [
                f"{node.module}.{alias.name}" for alias in node.names if f"{below}.{alias.name}".lstrip(".") in known
            ]
            names = submodules or [node.module]
        else:
            continue
        for name in names:
            if name.startswith(package_name + "."):
                below = name[len(package_name) + 1 :]
                # "fashion_lib.search.tuning.SearchResult" -> the longest known module: "search.tuning".
                while below and below not in known:
                    below = below.rpartition(".")[0]
                if below:
                    found.add(below)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    known = modules(package)
    names = set(known)
    graph = {}
    for name, path in known.items():
        # A subpackage's own __init__ is what `from fashion_lib import search` imports; a module's import
        # of its parent package counts for nothing.
        graph[name] = {target for target in imports(path, names, package.name) if not name.startswith(target + ".")}
        graph[name].discard(name)
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"fashion_lib.{source} ({stage_of(source)}) imports fashion_lib.{target} ({stage_of(target)})"
        for source, targets in graph.items()
        for target in targets
        if STAGES.index(stage_of(target)) > STAGES.index(stage_of(source))
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_folder_listing_shows_the_stages():
    packages = sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))
    assert packages == ["analysis", "models", "report", "search", "training"]
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top <= GROUND | COMMANDS | {"data"}, (
        f"top-level modules outside the ground and the commands: {top - GROUND - COMMANDS - {'data'}}"
    )


def test_no_module_imports_a_later_stage():
    upward = upward_imports(import_graph(PACKAGE))
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_imports_have_no_cycle():
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_is_longer_than_the_limit():
    long = {
        path.relative_to(config.PROJECT_ROOT).as_posix(): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.fixture
def toy_package(tmp_path):
    """A package laid out like fashion_lib, to show that the checks find what they look for."""
    package = tmp_path / "fashion_lib"
    for folder in ("models", "search"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("")
    return package


def test_an_upward_import_inside_a_function_is_found(toy_package):
    (toy_package / "models" / "builders.py").write_text("def f():\n    from fashion_lib.search.tuning import run\n")
    (toy_package / "search" / "tuning.py").write_text("from fashion_lib import config\n")
    graph = import_graph(toy_package)
    assert graph["models.builders"] == {"search.tuning"}
    assert upward_imports(graph) == ["fashion_lib.models.builders (models) imports fashion_lib.search.tuning (search)"]


def test_a_cycle_within_a_stage_is_found(toy_package):
    (toy_package / "search" / "tuning.py").write_text("from fashion_lib.search import trials\n")
    (toy_package / "search" / "trials.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fashion_lib.search.tuning import Search\n"
    )
    graph = import_graph(toy_package)
    assert upward_imports(graph) == []
    assert find_cycle(graph) == ["search.trials", "search.tuning", "search.trials"]


def test_a_module_of_no_stage_is_named():
    with pytest.raises(ValueError, match="fashion_lib.helpers belongs to no stage"):
        stage_of("helpers")
