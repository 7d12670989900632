"""Every GOOGLENET_* setting in one place: read, checked, and documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from googlenet_core.service.settings import VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[1]


def test_nothing_set_gives_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.runs_dir == Path("runs") and settings.max_jobs is None
    assert settings.job_seconds == 30 * 60 and not settings.debug


def test_every_variable_fills_its_field() -> None:
    environ = {
        "GOOGLENET_RUNS_DIR": "/srv/runs",
        "GOOGLENET_DATA_DIR": "/srv/data",
        "GOOGLENET_LINKS_DIR": "/srv/links",
        "GOOGLENET_MAX_JOBS": "4",
        "GOOGLENET_JOBS_PER_BROWSER": "2",
        "GOOGLENET_MAX_QUEUED": "40",
        "GOOGLENET_JOB_MINUTES": "5",
        "GOOGLENET_KEEP_RUNS": "10",
        "GOOGLENET_KEEP_DAYS": "3",
        "GOOGLENET_MEMORY_MB": "2700",
        "GOOGLENET_THREADS": "2",
        "GOOGLENET_PUBLIC_URL": "https://class.example.org/googlenet/",
        "GOOGLENET_DEBUG": "1",
        "UNRELATED": "x",
    }
    assert {v.name for v in VARIABLES} == {k for k in environ if k.startswith("GOOGLENET_")}
    settings = Settings.from_env(environ)
    assert settings == Settings(
        runs_dir=Path("/srv/runs"),
        data_dir=Path("/srv/data"),
        links_dir=Path("/srv/links"),
        max_jobs=4,
        jobs_per_browser=2,
        max_queued=40,
        job_minutes=5,
        keep_runs=10,
        keep_days=3,
        memory_mb=2700,
        threads=2,
        public_url="https://class.example.org/googlenet",
        debug=True,
    )
    assert {v.field for v in VARIABLES} == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GOOGLENET_MAX_JOBS", "two", "GOOGLENET_MAX_JOBS must be a whole number, got 'two'"),
        ("GOOGLENET_MAX_JOBS", "0", "GOOGLENET_MAX_JOBS must be at least 1, got 0"),
        ("GOOGLENET_MEMORY_MB", "1.5", "GOOGLENET_MEMORY_MB must be whole megabytes, got '1.5'"),
        ("GOOGLENET_MEMORY_MB", "32", "GOOGLENET_MEMORY_MB must be at least 64, got 32"),
        ("GOOGLENET_JOB_MINUTES", "1h", "GOOGLENET_JOB_MINUTES must be whole minutes, got '1h'"),
        ("GOOGLENET_PUBLIC_URL", "192.168.1.20:8501", "must be the app's address, such as "),
        ("GOOGLENET_PUBLIC_URL", "ftp://host", "must be the app's address"),
        ("GOOGLENET_PUBLIC_URL", "http://host/?s=abc", "an address without ? or #"),
        ("GOOGLENET_PUBLIC_URL", "http://host:85o1", "a port that is not a number"),
        ("GOOGLENET_PUBLIC_URL", "http://[::1", "must be the app's address"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_variable(name, value, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_env({name: value})


def test_an_empty_variable_is_unset() -> None:
    assert Settings.from_env({"GOOGLENET_MAX_JOBS": " ", "GOOGLENET_RUNS_DIR": ""}) == Settings()


def test_the_readme_table_is_the_settings_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `GOOGLENET_")]
    assert rows == [f"| `{v.name}` | {v.default} | {v.bounds} |" for v in VARIABLES]


def test_no_other_module_reads_a_setting_of_its_own() -> None:
    """Every GOOGLENET_* name in the code is a variable of the table, and only the settings
    module reads the environment (torchrun's own RANK and WORLD_SIZE aside)."""
    names = {v.name for v in VARIABLES}
    code = [
        *(ROOT / "googlenet_core").rglob("*.py"),
        ROOT / "app.py",
        *(ROOT / "pages").rglob("*.py"),
    ]
    unknown, readers = [], []
    for path in code:
        text = path.read_text()
        unknown += [
            f"{path.name}: {n}" for n in re.findall(r"GOOGLENET_[A-Z_]+", text) if n not in names
        ]
        if re.search(r"os\.environ\.get|os\.getenv|environ\[", text) and path.name not in (
            "settings.py",
            "distributed.py",
        ):
            readers.append(path.name)
    assert unknown == [] and readers == []


def test_a_typo_in_one_setting_is_said_and_the_rest_works(monkeypatch, capsys) -> None:
    """An operator's typo keeps that setting's default: every page says so once at the top,
    the CLI prints it as a warning, and neither stops."""
    from conftest import app_test, new_server

    from googlenet_core.cli import main

    new_server(monkeypatch, GOOGLENET_KEEP_DAYS="0")
    at = app_test().run()
    assert not at.exception
    assert any(
        w.value.startswith("This server's settings: GOOGLENET_KEEP_DAYS must be at least 1, got 0")
        for w in at.warning
    )
    capsys.readouterr()  # what the page run wrote
    assert main(["summary", "--preset", "mini"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(
        "warning: GOOGLENET_KEEP_DAYS must be at least 1, got 0: the default (14)"
    )
    monkeypatch.delenv("GOOGLENET_KEEP_DAYS")
    new_server(monkeypatch)  # the next test's server reads the environment again
