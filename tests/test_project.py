"""Project hygiene: dependency files agree, notebooks are committed clean and parameterised."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml

from fashion_lib import config

# Conda packages that are PyPI's under another name; the Python interpreter and pip are conda-only.
CONDA_ONLY = {"python", "pip"}


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_declare_the_same_packages():
    pyproject = tomllib.loads((config.PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    declared = pyproject["dependencies"] + pyproject["optional-dependencies"]["cpu"]
    declared += pyproject["optional-dependencies"]["dev"]
    environment = yaml.safe_load((config.PROJECT_ROOT / "environment.yml").read_text())
    conda, pip = [], []
    for entry in environment["dependencies"]:
        (pip.extend(entry["pip"]) if isinstance(entry, dict) else conda.append(entry))
    in_environment = {requirement_name(r) for r in conda + pip} - CONDA_ONLY
    assert in_environment == {requirement_name(r) for r in declared}
    # The versions too: a bound in one file (keras-tuner's, say) must be in the other.
    assert {r.replace(" ", "") for r in conda + pip if requirement_name(r) not in CONDA_ONLY} == {
        r.replace(" ", "") for r in declared
    }


def test_the_keras_tuner_version_is_bounded_where_its_internals_are_used():
    # fashion_lib.search.distributed builds its chief on private modules of keras-tuner 1.4; a release that moves
    # them must not be installed unnoticed (tests/test_distributed.py checks the installed one has them).
    pyproject = tomllib.loads((config.PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    (keras_tuner,) = [r for r in pyproject["dependencies"] if requirement_name(r) == "keras-tuner"]
    assert "<" in keras_tuner
    users = [
        path.relative_to(config.PROJECT_ROOT).as_posix()
        for path in sorted((config.PROJECT_ROOT / "fashion_lib").rglob("*.py"))
        if "keras_tuner.src" in path.read_text()
    ]
    assert users == ["fashion_lib/search/distributed.py"]


NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


def test_the_four_notebooks_exist():
    assert [path.name for path in NOTEBOOKS] == ["01_explore.ipynb", "02_mlp.ipynb", "03_cnn.ipynb", "04_compare.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert dirty == [], f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_has_one_parameters_cell_first_and_no_definitions(path):
    code_cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    tagged = [c for c in code_cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and code_cells[0] is tagged[0]
    for line in "".join(tagged[0]["source"]).splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.match(r"^\w+: [\w\[\], |]+ = .+  # .+", line), f"{path.name}: untyped parameter {line!r}"
    for cell in code_cells:
        assert not re.search(r"^\s*(def|class) ", "".join(cell["source"]), re.M), f"{path.name} defines a function"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_papermill_parses_every_parameter(path):
    import papermill

    code_cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    lines = [line for line in "".join(code_cells[0]["source"]).splitlines() if line.strip()]
    assert set(papermill.inspect_notebook(str(path))) == {line.split(":")[0] for line in lines}


def test_the_makefile_report_target_names_every_profile():
    from fashion_lib.report.profiles import available_profiles

    report_help = next(
        line for line in (config.PROJECT_ROOT / "Makefile").read_text().splitlines() if line.startswith("report:")
    )
    listed = re.search(r"PROFILE=([a-z|]+)\)", report_help)
    assert listed and sorted(listed[1].split("|")) == sorted(available_profiles())
