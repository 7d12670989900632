"""What an operator can set: every ``GOOGLENET_*`` environment variable, in one place.

A dashboard is configured by its environment (Community Cloud's secrets, ``docker run
-e``, a shell). :class:`Settings` reads all of it at once into one frozen object, and
:data:`VARIABLES` is the table of what can be set, its default and what it bounds; the
README's settings table is that table (a test compares them). A value that is not
allowed is one sentence naming the variable, the value and what it takes, never a
traceback three modules down: :meth:`Settings.from_env` raises it as a ``ValueError``,
and what the server and the CLI read (:func:`current`) keeps that variable's default and
reports the sentence (:func:`problems`: the pages show it, the CLI prints it), so a typo
in one setting of a deployment does not take the whole app down.

Nothing below ``service/`` reads the environment: the training engine and the data
layer take folders and thread counts as arguments, and the CLI and the server pass
them from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from ..i18n import N_, _

Kind = Literal["folder", "count", "flag", "url"]


@dataclass(frozen=True)
class Variable:
    """One setting: its environment variable, and what the README says of it."""

    name: str  # the environment variable: "GOOGLENET_MAX_JOBS"
    field: str  # the Settings attribute it fills: "max_jobs"
    kind: Kind  # folder: a path; count: a whole number >= minimum; flag: set or not; url
    default: str  # the default, in words, as the README's table shows it
    bounds: str  # what it bounds or chooses, in words
    minimum: int = 1  # counts only
    unit: str = N_("a whole number")  # counts only, for the error: "whole megabytes"


VARIABLES: tuple[Variable, ...] = (
    Variable("GOOGLENET_RUNS_DIR", "runs_dir", "folder", "`runs/` in the working folder",
             "the run store: one folder per training run, from the dashboard or the CLI"),
    Variable("GOOGLENET_DATA_DIR", "data_dir", "folder", "`.data-cache/` in the working folder",
             "where downloaded data sets are kept"),
    Variable("GOOGLENET_LINKS_DIR", "links_dir", "folder", "`links/` in the working folder",
             "the short-link store"),
    Variable("GOOGLENET_MAX_JOBS", "max_jobs", "count", "1 on a CPU host, one per GPU",
             "jobs training at once"),
    Variable("GOOGLENET_JOBS_PER_BROWSER", "jobs_per_browser", "count", "3",
             "runs one browser may have waiting or running (an A/B pair and one more)"),
    Variable("GOOGLENET_MAX_QUEUED", "max_queued", "count", "20",
             "runs waiting on the whole server"),
    Variable("GOOGLENET_JOB_MINUTES", "job_minutes", "count", "30",
             "a run's time; then it stops as if cancelled, keeping its last checkpoint, "
             "and says why", unit=N_("whole minutes")),
    Variable("GOOGLENET_KEEP_RUNS", "keep_runs", "count", "200",
             "dashboard runs kept (the oldest finished ones are pruned, with temporary "
             "files of killed saves)"),
    Variable("GOOGLENET_KEEP_DAYS", "keep_days", "count", "14",
             "days a dashboard run is kept"),
    Variable("GOOGLENET_MEMORY_MB", "memory_mb", "count",
             "the cgroup's `memory.max` / `memory.limit_in_bytes`, else RAM",
             "what the server and its jobs may use together", minimum=64,
             unit=N_("whole megabytes")),
    Variable("GOOGLENET_THREADS", "threads", "count",
             "the CPUs the process may use that other processes leave idle",
             "torch's threads in a training process (the CLI's `--threads` too)"),
    Variable("GOOGLENET_PUBLIC_URL", "public_url", "url",
             "Streamlit's `browser.serverAddress` when set, else the address the browser used",
             "the app's address as students open it (`http://192.168.1.20:8501`), given in "
             "short links and QR codes"),
    Variable("GOOGLENET_DEBUG", "debug", "flag", "off",
             "any value: the CLI prints a traceback instead of one `error:` line"),
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """The environment's settings, read once; ``None`` where the host decides (measured)."""

    runs_dir: Path = Path("runs")
    data_dir: Path = Path(".data-cache")
    links_dir: Path = Path("links")
    max_jobs: int | None = None  # None: one per CUDA GPU, else 1
    jobs_per_browser: int = 3  # an A/B pair and one more; a class of 30 fills at most 90
    max_queued: int = 20  # at the mini recipe's ~20 s a run, the last waits about 7 minutes
    job_minutes: int = 30
    keep_runs: int = 200  # about 4 MB each for mini, 50 MB for the paper's network
    keep_days: int = 14  # a course's fortnight; Community Cloud's disk rarely lives longer
    memory_mb: int | None = None  # None: the cgroup's limit, else physical memory
    threads: int | None = None  # None: the available CPUs that other processes leave idle
    public_url: str | None = None  # None: Streamlit's browser.serverAddress, else the browser's
    debug: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every ``GOOGLENET_*`` variable of ``environ`` (default ``os.environ``); the first
        value not allowed raises a ``ValueError`` that names it."""
        values, refused = _values(environ)
        if refused:
            raise ValueError(refused[0][1])
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> tuple[Settings, tuple[str, ...]]:
        """The settings, with a variable's default where its value is not allowed, and a
        sentence for each such variable."""
        values, refused = _values(environ)
        found = tuple(
            _("{reason}: the default ({default}) is used").format(reason=why, default=v.default)
            for v, why in refused
        )
        return cls(**values), found  # type: ignore[arg-type]

    @property
    def job_seconds(self) -> float:
        return 60.0 * self.job_minutes


def _values(
    environ: Mapping[str, str] | None,
) -> tuple[dict[str, object], list[tuple[Variable, str]]]:
    """The values set in ``environ`` by field, and the variables refused with why."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    refused: list[tuple[Variable, str]] = []
    for variable in VARIABLES:
        text = env.get(variable.name, "").strip()
        if not text:
            continue  # unset or empty: the default
        try:
            values[variable.field] = _parse(variable, text)
        except ValueError as exc:
            refused.append((variable, str(exc)))
    return values, refused


def _parse(variable: Variable, text: str) -> object:
    if variable.kind == "folder":
        return Path(text)
    if variable.kind == "flag":
        return True
    if variable.kind == "url":
        return _public_url(variable, text)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            _("{name} must be {unit}, got {text!r}").format(
                name=variable.name, unit=_(variable.unit), text=text
            )
        ) from None
    if value < variable.minimum:
        raise ValueError(
            _("{name} must be at least {minimum}, got {value}").format(
                name=variable.name, minimum=variable.minimum, value=value
            )
        )
    return value


def _public_url(variable: Variable, text: str) -> str:
    """An http(s) address with a host and nothing after its path, without a final slash."""
    try:
        parts = urlsplit(text)
    except ValueError:  # "Invalid IPv6 URL": an unclosed [
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            _(
                "{name} must be the app's address, such as http://192.168.1.20:8501, got {text!r}"
            ).format(name=variable.name, text=text)
        )
    if parts.query or parts.fragment:
        raise ValueError(
            _("{name} must be an address without ? or #, got {text!r}").format(
                name=variable.name, text=text
            )
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(
            _("{name} has a port that is not a number: {text!r}").format(
                name=variable.name, text=text
            )
        ) from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def current() -> Settings:
    """The settings as the environment holds them now (cheap: read on every call); a value
    not allowed keeps its default (:func:`problems` says which: the pages show it, the CLI
    prints it)."""
    return Settings.read()[0]


def problems() -> tuple[str, ...]:
    """A sentence for each ``GOOGLENET_*`` value the environment holds that is not allowed."""
    return Settings.read()[1]
