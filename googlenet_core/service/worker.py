"""A training job in its own process: the dashboard's server never trains.

:func:`spawn` starts ``python -m googlenet_core.service.worker RUN_DIR`` for a run
folder that :meth:`googlenet_core.training.runs.Run.create` made (its network and
recipe are there). The child:

- reads an uploaded zip's bytes from its stdin (nothing is extracted to disk), and
  ``job.json`` in the run folder for what else
  :func:`googlenet_core.training.train.train` needs;
- uses the threads :func:`.host.training_threads` chooses (set in its environment
  before torch starts, so no thread spins on a core another process needs);
- writes every event as one line ``@event {json}`` on its stdout, which the server
  reads for the live view (the run folder gets the same events, as from any run);
- stops within one batch of SIGTERM or SIGINT, or when its parent is gone. Its
  owner's Cancel (and the server's time limit) marks the run folder first
  (:data:`CANCEL_FILE`, :meth:`Child.cancel`): the run ends ``cancelled``. A signal
  without that mark, or a parent that vanished, is the server stopping: the run ends
  ``interrupted``, saying when and why, never as if its owner had cancelled it.

Whatever happens in it (a crash, out of memory, a kill), the server's process and the
other jobs carry on; :class:`Child` turns a child that ended without an outcome into a
``failed`` run with a sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..i18n import DEFAULT_LANGUAGE, _, normalise_language, set_language
from ..training.events import EndEvent, Event, event_from_dict, event_to_dict
from .host import threads_env, training_threads

if TYPE_CHECKING:
    from ..network.config import GoogLeNetConfig
    from ..training.config import TrainConfig

MODULE = "googlenet_core.service.worker"  # what the child runs: this file's _main
PREFIX = "@event "
JOB_FILE = "job.json"  # what train() needs beyond the run's network and recipe
CANCEL_FILE = "cancel-requested"  # written by Child.cancel before its SIGTERM
LOG_FILE = "worker.log"  # the child's stderr: warnings, a traceback


@dataclass
class Child:
    """A running worker: read its events, signal it, learn how it ended."""

    process: subprocess.Popen[bytes]
    run_path: Path

    def events(self) -> Iterator[Event]:
        """Each event the child reports, until its stdout closes."""
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace")
            if line.startswith(PREFIX):
                try:
                    yield event_from_dict(json.loads(line[len(PREFIX) :]))
                except ValueError:  # a torn line from a killed child: ignore it
                    continue

    def cancel(self) -> None:
        """Stop the child as its owner's Cancel: marked as such, then SIGTERM."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                (self.run_path / CANCEL_FILE).touch()
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        return self.process.wait()

    def why_it_ended(self, returncode: int) -> str:
        """A sentence for a child that ended without reporting an outcome."""
        if returncode < 0:
            number = -returncode
            name = signal.Signals(number).name if number in signal.valid_signals() else number
            if number == signal.SIGKILL:
                return _(
                    "the training process was killed by {signal} (most likely the host ran out "
                    "of memory: try a smaller batch size, input size or subset)"
                ).format(signal=name)
            return _("the training process was killed by {signal}").format(signal=name)
        tail = _last_line(self.run_path / LOG_FILE)
        if tail:
            return _("the training process stopped with exit code {code}: {detail}").format(
                code=returncode, detail=tail
            )
        return _("the training process stopped with exit code {code}").format(code=returncode)


def _last_line(path: Path, limit: int = 300) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


def spawn(
    run_path: Path,
    *,
    archive: bytes | None,
    class_names: tuple[str, ...] | None,
    cache_dir: str | os.PathLike[str] | None,
    threads: int | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> Child:
    """Start the worker for ``run_path``; the archive goes through its stdin. The run's
    notes and model card are written in ``language`` (the visitor's who started it)."""
    env = _prepare(run_path, archive is not None, class_names, cache_dir, threads, language)
    with open(run_path / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(run_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
    assert process.stdin is not None
    feeder = threading.Thread(
        target=_feed, args=(process.stdin, archive or b""), name="worker-stdin", daemon=True
    )
    feeder.start()  # a big zip must not block the reader of the child's events
    return Child(process, run_path)


def _prepare(
    run_path: Path,
    archive: bool,
    class_names: tuple[str, ...] | None,
    cache_dir: str | os.PathLike[str] | None,
    threads: int | None,
    language: str = DEFAULT_LANGUAGE,
) -> dict[str, str]:
    """Write the run's ``job.json``; the environment a worker for it starts with."""
    chosen = threads or training_threads(leave_one_for_server=True).value
    job = {
        "class_names": list(class_names) if class_names is not None else None,
        "cache_dir": os.fspath(cache_dir) if cache_dir is not None else None,
        "threads": chosen,
        "archive": archive,
        "language": language,
    }
    (run_path / JOB_FILE).write_text(json.dumps(job))
    env = {**os.environ, **threads_env(chosen)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    return env


def _package_root() -> str:
    """The folder holding the package as this process sees it, wherever it came from."""
    return str(Path(__file__).resolve().parents[2])


def _feed(stdin: IO[bytes], data: bytes) -> None:
    # A child that died before reading everything: its end says why.
    with contextlib.suppress(OSError):
        stdin.write(data)
    with contextlib.suppress(OSError):
        stdin.close()


# ---- the child's side ----------------------------------------------------------------------


def _main(run_dir: str) -> int:
    import torch  # after the environment set the threads

    from ..training.runs import Run
    from ..training.train import train
    from ..training.trainer import StopRequest

    path = Path(run_dir)
    job = json.loads((path / JOB_FILE).read_text())
    torch.set_num_threads(int(job["threads"]))
    set_language(normalise_language(job.get("language")) or DEFAULT_LANGUAGE)
    archive = sys.stdin.buffer.read() if job["archive"] else None
    sys.stdin.close()
    stop = StopRequest()
    parent = os.getppid()

    def on_signal(signum: int, frame: object) -> None:
        if (path / CANCEL_FILE).exists():  # the owner's Cancel, or the server's time limit
            stop.set()
        else:  # the server (or the terminal it runs in) is stopping
            why = _("the server stopped ({signal}) at {time}")
            stop.interrupt(why.format(signal=signal.Signals(signum).name, time=_now()))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    out = sys.stdout
    lock = threading.Lock()

    def report(event: Event) -> None:
        if os.getppid() != parent:  # the server is gone: nobody watches, stop cleanly
            stop.interrupt(_("the server's process ended (noticed at {time})").format(time=_now()))
        line = PREFIX + json.dumps(event_to_dict(event), separators=(",", ":")) + "\n"
        with lock:
            try:
                out.write(line)
                out.flush()
            except (BrokenPipeError, OSError):
                why = _("the server stopped reading this run (at {time})")
                stop.interrupt(why.format(time=_now()))

    run = Run(path)
    classes = job.get("class_names")
    train(
        run.model_config(),
        run.train_config(),
        archive=archive,
        class_names=tuple(classes) if classes is not None else None,
        callbacks=[report],
        stop=stop,
        run=run,
        cache_dir=job.get("cache_dir"),
    )
    return 0


def _now() -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime())


def run_child(child: Child, emit: Callable[[Event], None]) -> EndEvent | None:
    """Pass every event of ``child`` to ``emit``; its end event, or None if it reported none."""
    end: EndEvent | None = None
    for event in child.events():
        emit(event)
        if isinstance(event, EndEvent):
            end = event
    return end


#: Starts the worker and reports its peak RSS (kB), its exit code and whether it was
#: stopped at the memory limit: a child started with vfork inherits its parent's RSS
#: high-water mark, so a big parent (a server that has run dozens of pages) would hide the
#: worker's; this launcher is a few MB. With a limit (bytes, 0 for none) it reads the
#: worker's RSS every 20 ms and kills it above the limit, so a measurement never takes
#: more memory than a job could have.
_LAUNCHER = """\
import os, subprocess, sys, threading, time
limit = int(sys.argv[3])
os.nice(int(sys.argv[4]))
p = subprocess.Popen([sys.executable, '-m', sys.argv[1], sys.argv[2]],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
over = []
def watch():
    page = os.sysconf('SC_PAGE_SIZE')
    while p.returncode is None:
        try:
            with open(f'/proc/{p.pid}/statm') as f:
                rss = int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            return
        if rss > limit:
            over.append(rss)
            p.kill()
            return
        time.sleep(0.02)
if limit:
    threading.Thread(target=watch, daemon=True).start()
_, status, usage = os.wait4(p.pid, 0)
p.returncode = os.waitstatus_to_exitcode(status)
print(usage.ru_maxrss, p.returncode, int(bool(over)))
"""


class OverLimit(RuntimeError):
    """A measured worker went over the memory limit it was given, and was stopped there."""


def measured_peak(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    root: str | os.PathLike[str],
    *,
    limit: int = 0,
    threads: int = 2,
    env: dict[str, str] | None = None,
    nice: int = 0,
) -> int:
    """Peak RSS in bytes of a real worker (the dashboard's path) training this run in ``root``.

    What the memory prediction is checked against, and how the process baseline is
    measured (:mod:`.probes`). The worker is started by a small launcher
    (:data:`_LAUNCHER`), whose ``os.wait4`` reads that one child's ``ru_maxrss``, whatever
    the size of the process asking. Above ``limit`` bytes (0: none) the worker is killed
    and :class:`OverLimit` raised. ``env`` adds to the worker's environment; ``nice``
    lowers its priority (a probe beside pages that answer a class).
    """
    from ..training.runs import Run

    run = Run.create(config, train_config, root)
    child_env = {**_prepare(run.path, False, None, None, threads=threads), **(env or {})}
    if env and "PYTHONPATH" in env:  # the package's own root stays first
        child_env["PYTHONPATH"] = os.pathsep.join((_package_root(), env["PYTHONPATH"]))
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, MODULE, str(run.path), str(limit), str(nice)],
        env=child_env,
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kb, code, over = (int(v) for v in done.stdout.split())
    if over:
        raise OverLimit(f"a training process went over {limit / 2**20:,.0f} MB")
    if code != 0 or run.status().status != "completed":
        raise RuntimeError(f"the measured run did not complete: {run.status().message}")
    return peak_kb * 1024  # kilobytes on Linux


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
