"""`make test-lowest` runs the suite on the lower bounds pyproject.toml declares, and only on those.

Its environment comes from constraints/lowest.txt: if a bound in pyproject.toml moves and the
constraints file does not follow, the lowest run tests versions no user is promised, and the
promised ones go untested.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints" / "lowest.txt"


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["dependencies"]]


def lower_bound(requirement: Requirement) -> Version:
    (bound,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    return Version(bound)


def pins() -> dict[str, Requirement]:
    lines = CONSTRAINTS.read_text(encoding="utf-8").splitlines()
    requirements = [Requirement(line.partition("#")[0]) for line in lines if line.partition("#")[0].strip()]
    pinned = {canonicalize_name(r.name): r for r in requirements}
    assert len(pinned) == len(requirements), "a package is pinned twice"
    return pinned


def pinned_version(requirement: Requirement) -> Version:
    (spec,) = requirement.specifier
    assert spec.operator == "==", f"{requirement} is not an exact pin"
    return Version(spec.version)


@pytest.mark.parametrize("requirement", runtime_requirements(), ids=str)
def test_every_runtime_dependency_declares_one_lower_bound(requirement: Requirement) -> None:
    assert [spec.operator for spec in requirement.specifier].count(">=") == 1


@pytest.mark.parametrize("requirement", runtime_requirements(), ids=str)
def test_the_lowest_environment_pins_each_runtime_dependency_to_its_lower_bound(requirement: Requirement) -> None:
    pinned = pins().get(canonicalize_name(requirement.name))
    assert pinned is not None, f"constraints/lowest.txt does not pin {requirement.name}"
    assert pinned_version(pinned) == lower_bound(requirement), (
        f"constraints/lowest.txt pins {pinned}, but pyproject.toml declares {requirement}"
    )


def test_the_lowest_environment_pins_every_package_exactly() -> None:
    # Everything the lowest run installs is pinned, so two runs test the same versions.
    for requirement in pins().values():
        pinned_version(requirement)
        assert not requirement.extras, f"{requirement}: pip refuses extras in a constraints file"


def test_the_installation_docs_state_the_declared_ranges() -> None:
    # docs/index.md has a table of the supported versions: `| FastAPI | 0.118 and later |`.
    rows = {}
    for line in (ROOT / "docs" / "index.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2:
            rows[canonicalize_name(cells[0])] = cells[1]
    for requirement in runtime_requirements():
        stated = rows.get(canonicalize_name(requirement.name))
        assert stated is not None, f"docs/index.md does not state the versions of {requirement.name}"
        expected = f"{lower_bound(requirement)} and later"
        expected += "".join(f", below {spec.version}" for spec in requirement.specifier if spec.operator == "<")
        assert stated == expected, f"docs/index.md says {stated!r} for {requirement}"
