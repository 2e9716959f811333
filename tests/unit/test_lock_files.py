"""The lock files hold exactly the versions pyproject.toml pins, each with its hashes, and production's holds no
development tool: what `make test` passed with is what Heroku installs."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.processes import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
#: One locked package: its name, version and the hashes on its continuation lines.
LOCKED = re.compile(
    r"^([A-Za-z0-9_.\-]+)==(\S+)(?: ;[^\\\n]*)? \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.M
)


def locked(name: str) -> dict[str, str]:
    """Package name -> version, for the lock file `name`; every entry must carry hashes."""
    text = (PROJECT_ROOT / name).read_text()
    entries = {canonicalize_name(match[1]): match[2] for match in LOCKED.finditer(text)}
    packages = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(packages) == len(entries), f"{name} has entries without hashes"
    return entries


def pins(*extras: str) -> dict[str, str]:
    requirements = [*PYPROJECT["dependencies"]] + [
        r for extra in extras for r in PYPROJECT["optional-dependencies"][extra]
    ]
    result = {}
    for text in requirements:
        requirement = Requirement(text)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{text} is not pinned"
        result[canonicalize_name(requirement.name)] = specifier.version
    return result


@pytest.mark.parametrize(
    ("lock_file", "extras"),
    [("requirements.txt", ()), ("requirements-dev.txt", ("dev",)), ("requirements-bench.txt", ("dev", "bench"))],
)
def test_each_lock_file_holds_every_pin_at_its_version(lock_file: str, extras: tuple[str, ...]) -> None:
    entries = locked(lock_file)

    for name, version in pins(*extras).items():
        assert entries.get(name) == version, f"{lock_file}: {name} is {entries.get(name)}, pyproject pins {version}"


def test_production_installs_no_development_tool() -> None:
    production = locked("requirements.txt")

    for name in pins("dev", "bench").keys() - pins().keys():
        assert name not in production
