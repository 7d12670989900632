"""`pip install .`: the wheel holds the whole package (the bundled digits, the sample photos,
py.typed, the licences) and its `googlenet-core` command works from the wheel alone."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (the build leaves files behind)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "googlenet_core",
        source / "googlenet_core",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
        + ["--quiet", "--wheel-dir", str(out)],
        check=True,
        timeout=300,
    )
    [found] = out.glob("googlenet_core-*.whl")
    return found


def test_the_wheel_holds_the_package_data_and_the_licences(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "googlenet_core").rglob("*")}
    shipped = {n for n in shipped if "__pycache__" not in n and (ROOT / n).is_file()}
    assert shipped <= names, sorted(shipped - names)
    assert "googlenet_core/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not any(n.startswith(("pages/", "tests/", "app.py")) for n in names)


def test_the_console_command_runs_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    [info] = site.glob("googlenet_core-*.dist-info")
    entry = configparser.ConfigParser()
    entry.read(info / "entry_points.txt")
    assert entry["console_scripts"]["googlenet-core"] == "googlenet_core.cli:main"
    # What the installed `googlenet-core` script runs, with the repository off the path.
    script = (
        "import sys, googlenet_core\n"
        f"assert googlenet_core.__file__.startswith({str(site)!r}), googlenet_core.__file__\n"
        "from googlenet_core.data.digits import load_digits\n"
        "assert load_digits()[0].shape == (3823, 8, 8)\n"
        "from googlenet_core.cli import main\n"
        "sys.exit(main(['summary', '--preset', 'mini']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "370,706" in done.stdout or "370.7" in done.stdout, done.stdout
