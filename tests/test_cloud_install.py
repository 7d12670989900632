"""How requirements.txt resolves when Streamlit Community Cloud installs it with uv, and with pip.

requirements.txt adds PyTorch's CPU index with `--extra-index-url`. uv puts extra indexes before
the default one and, by default, takes each package only from the first index that has it; the
CPU index also holds old copies of numpy, pillow and others, so `numpy==<pin>` finds no solution.
pyproject.toml's `[tool.uv.pip]` sets the index strategy that uv reads from the repository.

Offline: two local "simple" indexes (PEP 503 directories behind file:// URLs) with tiny
`py3-none-any` wheels made here stand in for PyTorch's CPU index and PyPI. A copy of the real
requirements.txt points at them (only its extra-index URL is rewritten; the default index is
given on the command line). The PyTorch stand-in has `+cpu` torch and torchvision and stale
numpy, pillow and filelock (a dependency of torch that requirements.txt does not pin); the PyPI
stand-in has the plain torch and torchvision builds, every other pin and a newer filelock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.parse
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# uv reads either file from the working directory; uv.toml wins when both are there.
CONFIG_FILES = ("pyproject.toml", "uv.toml")
STALE_ON_CPU_INDEX = {"numpy": "1.26.0", "pillow": "10.2.0", "filelock": "3.13.1"}
FILELOCK_ON_PYPI = "3.20.0"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    """requirements.txt's `name==version` lines, by normalized name."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line.strip()):
            pins[_normalize(match[1])] = match[2]
    return pins


def _uv_bin() -> str | None:
    try:
        import uv  # the PyPI package `uv` (requirements-dev.txt)

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _wheel(index: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    """A minimal `py3-none-any` wheel in the index's project directory."""
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"__version__ = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    project = index / _normalize(name)
    project.mkdir(parents=True, exist_ok=True)
    record = []
    with zipfile.ZipFile(project / f"{dist}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            data = text.encode()
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")


def _write_pages(index: Path) -> str:
    """PEP 503 index.html pages for every project directory; the index's file:// URL."""
    projects = sorted(p for p in index.iterdir() if p.is_dir())
    for project in projects:
        links = "".join(
            f'<a href="{urllib.parse.quote(w.name)}">{w.name}</a>\n'
            for w in sorted(project.glob("*.whl"))
        )
        (project / "index.html").write_text(
            f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n"
        )
    links = "".join(f'<a href="{p.name}/">{p.name}</a>\n' for p in projects)
    (index / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    return index.as_uri()


class Setup:
    """The two index URLs and two working directories holding the rewritten requirements.txt:
    `repo` with the repository's uv configuration file(s), `bare` with none."""

    def __init__(self, tmp_path: Path) -> None:
        pins = _pins()
        torch, vision = pins["torch"], pins["torchvision"]
        vision_needs = (f"torch=={torch}", "numpy", "pillow")

        cpu = tmp_path / "index-cpu"
        _wheel(cpu, "torch", f"{torch}+cpu", ("filelock",))
        _wheel(cpu, "torchvision", f"{vision}+cpu", vision_needs)
        for name, version in STALE_ON_CPU_INDEX.items():
            _wheel(cpu, name, version)

        pypi = tmp_path / "index-pypi"
        _wheel(pypi, "torch", torch, ("filelock",))
        _wheel(pypi, "torchvision", vision, vision_needs)
        for name, version in pins.items():
            if name not in ("torch", "torchvision"):
                _wheel(pypi, name, version)
        _wheel(pypi, "filelock", FILELOCK_ON_PYPI)

        self.cpu_url = _write_pages(cpu)
        self.pypi_url = _write_pages(pypi)
        self.pins = pins

        text = (ROOT / "requirements.txt").read_text()
        extra = re.findall(r"(?m)^--extra-index-url\s+(\S+)\s*$", text)
        assert extra == [CPU_INDEX], extra
        text = re.sub(r"(?m)^--extra-index-url\s+\S+", f"--extra-index-url {self.cpu_url}", text)

        self.tmp_path = tmp_path
        self.repo = tmp_path / "repo"
        self.bare = tmp_path / "bare"
        for work in (self.repo, self.bare):
            work.mkdir()
            (work / "requirements.txt").write_text(text)
        for name in CONFIG_FILES:
            if (ROOT / name).exists():
                shutil.copy(ROOT / name, self.repo / name)

    def expected(self) -> dict[str, tuple[str, str]]:
        """name -> (version, index URL): the CPU builds of torch and torchvision from the CPU
        index, every other pin and the newest filelock from PyPI."""
        want = {n: (v, self.pypi_url) for n, v in self.pins.items()}
        for name in ("torch", "torchvision"):
            want[name] = (f"{self.pins[name]}+cpu", self.cpu_url)
        want["filelock"] = (FILELOCK_ON_PYPI, self.pypi_url)
        return want


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


@pytest.fixture
def uv_bin() -> str:
    found = _uv_bin()
    if found is None:
        pytest.skip("uv is not installed (requirements-dev.txt pins it)")
    return found


def _run_uv(
    uv_bin: str, args: list[str], cwd: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """uv with no UV_*/PIP_* variables, no user or system configuration, its own cache and no
    network (the indexes are local files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env.update(
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_OFFLINE="1",
        UV_PYTHON_DOWNLOADS="never",
        NO_COLOR="1",
        XDG_CONFIG_HOME=str(tmp_path / "no-user-config"),
        XDG_CONFIG_DIRS=str(tmp_path / "no-system-config"),
    )
    return subprocess.run(
        [uv_bin, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _compile(uv_bin: str, setup: Setup, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`uv pip compile` with the index each package came from. In `bare`, --no-config also
    keeps uv from finding a configuration file in a parent of the temporary directory."""
    no_config = ["--no-config"] if cwd == setup.bare else []
    return _run_uv(
        uv_bin,
        ["pip", "compile", "requirements.txt", "--index-url", setup.pypi_url, *no_config]
        + ["--python", sys.executable, "--emit-index-annotation", "--no-header"],
        cwd,
        setup.tmp_path,
    )


def _parse_compiled(output: str) -> dict[str, tuple[str, str]]:
    resolved: dict[str, tuple[str, str]] = {}
    name = ""
    for line in output.splitlines():
        if match := re.fullmatch(r"(\S+)==(\S+)", line.strip()):
            name = _normalize(match[1])
            resolved[name] = (match[2], "")
        elif match := re.fullmatch(r"#\s+from\s+(\S+)", line.strip()):
            resolved[name] = (resolved[name][0], match[1])
    return resolved


def test_pyproject_sets_the_best_match_strategy_for_uv_pip() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["uv"]["pip"]["index-strategy"] == "unsafe-best-match"
    # A uv.toml beside it would be read instead of pyproject.toml's [tool.uv].
    assert not (ROOT / "uv.toml").exists()


def test_uv_without_the_configuration_finds_no_solution(uv_bin: str, setup: Setup) -> None:
    result = _compile(uv_bin, setup, setup.bare)
    assert result.returncode != 0, result.stdout
    assert "No solution found" in result.stderr, result.stderr
    assert f"numpy=={setup.pins['numpy']}" in result.stderr, result.stderr


def test_uv_with_the_configuration_takes_torch_from_the_cpu_index(
    uv_bin: str, setup: Setup
) -> None:
    result = _compile(uv_bin, setup, setup.repo)
    assert result.returncode == 0, result.stderr
    assert _parse_compiled(result.stdout) == setup.expected()


def test_uv_pip_install_reads_the_configuration(uv_bin: str, setup: Setup) -> None:
    """The command Community Cloud runs, as a dry run into a new environment."""
    venv = setup.tmp_path / "venv"
    made = _run_uv(uv_bin, ["venv", str(venv), "--python", sys.executable], setup.repo, venv.parent)
    assert made.returncode == 0, made.stderr
    result = _run_uv(
        uv_bin,
        ["pip", "install", "--dry-run", "-r", "requirements.txt", "--index-url", setup.pypi_url]
        + ["--python", str(venv)],
        setup.repo,
        setup.tmp_path,
    )
    assert result.returncode == 0, result.stderr
    would = dict(re.findall(r"(?m)^ \+ (\S+)==(\S+)$", result.stderr + result.stdout))
    assert {_normalize(n): v for n, v in would.items()} == {
        n: v for n, (v, _) in setup.expected().items()
    }


def test_pip_resolves_the_same_as_uv_with_the_configuration(setup: Setup) -> None:
    """pip considers every index already; its configuration files and PIP_* variables are
    left out (--isolated)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    report = setup.tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--disable-pip-version-check"]
        + ["--no-cache-dir", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
        + ["--index-url", setup.pypi_url, "-r", "requirements.txt"],
        cwd=setup.repo,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    picked = {}
    for item in json.loads(report.read_text())["install"]:
        url = item["download_info"]["url"]
        index = next(u for u in (setup.cpu_url, setup.pypi_url) if url.startswith(u + "/"))
        picked[_normalize(item["metadata"]["name"])] = (item["metadata"]["version"], index)
    assert picked == setup.expected()
