"""One server serving a class: page latency, queued jobs, watched vs alone, memory after.

A real ``streamlit run app.py`` on a free port (its run store and data cache in a
temporary folder) and headless tabs speaking Streamlit's own websocket protocol
(:mod:`st_client`: no browser, so no rendering cost is counted), each tab with its
own ``googlenet_owner`` cookie, as so many browsers. Every tab opens the Train page
at ``?preset=mini``; Start training submits the page's proposal for it (the
built-in digits, offline). Open tabs rerun the page's live fragments at the
intervals the server asks for (``auto_rerun``), as a browser does. Three phases:

- alone: one tab loads the page (the server's memory and threads just after this
  first page load are the baseline), clicks Start and closes: the job trains with
  nobody connected;
- watched: a tab starts the same job and ``--watchers - 1`` more tabs of the same
  browser (its cookie, its URL) open the page; all of them watch until it ends.
  Both are run ``--repeats`` times, interleaved, and the fastest of each compared;
- the class: ``--sessions`` tabs arrive over about 10 s and load the page;
  ``--jobs`` of them, spread among the arrivals (every third by default), click
  Start as soon as their page is up, so the later ones load while jobs train (the
  server queues the jobs: one at a time on a CPU host); 20 s later every tab
  reloads the page once; every tab stays open until the last job ends (at most
  ``--timeout`` s), then all close.

Memory (RSS of the server and of its training processes) and threads are sampled
every second. A job's figure is its own optimisation time (``train_seconds`` of its
end event in ``metrics.jsonl``), compared with the job alone; its wall time in the
worker (``elapsed``) and its wait from submission to the start of training are
printed beside it. A fragment's latency runs from the tab's request to the end of
that fragment's next complete run.

Targets: every page load within 2 s; the job watched by 4 tabs at most 1.5x the job
alone; 15 s after the class has gone, RSS within 50 MB of the baseline.

    python benchmarks/bench_class.py [--sessions 30] [--jobs 10] [--watchers 4]
        [--repeats 2] [--epochs N] [--timeout 900] [--port P] [--json PATH] [--quick]

The tabs run in this process, on the same cores as the server (2 here): like a
browser on the server's machine, they take some CPU from it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from argparse import Namespace
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamlit  # noqa: E402
from st_client import StreamlitTab  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

from googlenet_core.training.events import EndEvent, StartEvent  # noqa: E402
from googlenet_core.training.runs import list_runs, open_run  # noqa: E402

PAGE = "train"  # the Train page's url_pathname
QUERY = "preset=mini"  # the design, read from the URL by the page
START_KEY = "train_start"
EPOCHS_KEY = "train_epochs_*"  # the recipe's keys carry a generation suffix (follow_plan)
OWNER_COOKIE = "googlenet_owner"
CONNECT_WINDOW_S = 10.0  # the class arrives over this long
RELOAD_AFTER_S = 20.0  # after the class has arrived, every tab reloads once
SAMPLE_S = 1.0
SETTLE_S = 15.0  # after the last tab closes, before memory is read again
PAGE_TARGET_S = 2.0
WATCHED_TARGET = 1.5
RSS_TARGET_MB = 50.0


# ---- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """VmRSS of one process in MB (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def threads_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the training workers), from /proc's children lists."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                text = Path(f"/proc/{parent}/task/{task}/children").read_text()
            except OSError:
                continue
            for child in map(int, text.split()):
                found.append(child)
                todo.append(child)
    return found


def _join(cgroup: Path):  # noqa: ANN202 - a preexec_fn
    """Move the server (and so its training processes) into a memory-capped cgroup."""

    def join() -> None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    return join


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the benchmark started
    server_mb: float
    children_mb: float  # the training processes
    threads: int  # the server's
    children: int

    @property
    def total_mb(self) -> float:
        return self.server_mb + self.children_mb


class Server:
    """``streamlit run app.py`` in its own process group, with its log in ``folder``."""

    def __init__(
        self, folder: Path, port: int, cgroup: Path | None = None, gc: bool | None = None
    ) -> None:
        self.port = port
        self.log = folder / "server.log"
        env = {
            **os.environ,
            "GOOGLENET_RUNS_DIR": str(folder / "runs"),
            "GOOGLENET_DATA_DIR": str(folder / "data"),
        }
        command = [
            sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            # the page files may be edited while this runs; a deployment watches nothing either
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        if gc is not None:  # override .streamlit/config.toml's choice, to measure it
            command += ["--runner.postScriptGC", "true" if gc else "false"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its training processes go with it at the end
                preexec_fn=_join(cgroup) if cgroup is not None else None,
            )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_healthy(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"streamlit exited with code {self.process.returncode}")
            try:
                url = f"http://127.0.0.1:{self.port}/_stcore/health"
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"streamlit not healthy after {timeout_s:.0f} s")

    def sample(self, origin: float) -> Sample:
        children = descendants(self.pid)
        return Sample(
            at=round(time.monotonic() - origin, 1),
            server_mb=rss_mb(self.pid),
            children_mb=sum(rss_mb(c) for c in children),
            threads=threads_of(self.pid),
            children=len(children),
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # workers left over, in its group
            os.killpg(self.pid, signal.SIGKILL)

    def problems(self) -> list[str]:
        """Lines of the server log that report a problem, first of each."""
        found: list[str] = []
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        for line in text.splitlines():
            bad = any(w in line for w in ("Traceback", "Error", "Exception", "WARNING", "error"))
            if bad and line.strip() not in found:
                found.append(line.strip())
        return found


class Sampler:
    """The server's memory and threads every second, while the benchmark's tabs run."""

    def __init__(self, server: Server, origin: float) -> None:
        self.server, self.origin = server, origin
        self.samples: list[Sample] = []
        self._task: asyncio.Task[None] | None = None

    def now(self) -> Sample:
        sample = self.server.sample(self.origin)
        self.samples.append(sample)
        return sample

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.now()
            await asyncio.sleep(SAMPLE_S)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


# ---- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobTime:
    run: str
    status: str
    train_s: float | None  # optimisation only (the end event's train_seconds)
    elapsed_s: float | None  # everything in the worker: loading, training, validation, saves
    wait_s: float | None  # submitted (its folder made) -> its start event: queue + worker start


def job_time(runs: Path, run_id: str) -> JobTime:
    run = open_run(run_id, runs)
    events = run.events()
    start = next((e for e in events if isinstance(e, StartEvent)), None)
    end = next((e for e in reversed(events) if isinstance(e, EndEvent)), None)
    submitted = (run.path / "model_config.json").stat().st_mtime
    return JobTime(
        run=run_id,
        status=run.status().status,
        train_s=end.train_seconds if end else None,
        elapsed_s=end.elapsed if end else None,
        wait_s=round(start.time - submitted, 1) if start else None,
    )


def run_ids(runs: Path) -> set[str]:
    return {s.id for s in list_runs(runs)}


def by_submission(runs: Path, ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda r: (runs / r / "model_config.json").stat().st_mtime)


async def wait_runs(runs: Path, before: set[str], count: int, timeout_s: float) -> list[str]:
    """The ``count`` runs made after ``before``, once all have finished (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [s for s in list_runs(runs) if s.id not in before]
        if len(new) >= count and all(open_run(s.id, runs).status().finished for s in new):
            return by_submission(runs, [s.id for s in new])
        await asyncio.sleep(1.0)
    left = by_submission(runs, [s.id for s in list_runs(runs) if s.id not in before])
    print(f"  time is up ({timeout_s:.0f} s): {len(left)} run(s), not all finished", flush=True)
    return left


# ---- tabs ----------------------------------------------------------------------------------


def new_cookie() -> str:
    return f"{OWNER_COOKIE}={secrets.token_hex(16)}"


async def open_tab(base: str, cookie: str, query: str = QUERY) -> StreamlitTab:
    tab = StreamlitTab(base, PAGE, query, cookie)
    await tab.connect()
    await tab.load()
    return tab


async def start_job(tab: StreamlitTab, epochs: int | None) -> float:
    """Click Start training (with the epochs slider moved first when ``epochs`` is set)."""
    changed = []
    if epochs is not None:
        slider = WidgetState(id=tab.widget_id(EPOCHS_KEY))
        slider.double_array_value.data.append(float(epochs))
        changed.append(slider)
    return await tab.click(START_KEY, changed)


async def close_all(tabs: list[StreamlitTab]) -> None:
    await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)


def spread(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3) if values else None,
        "worst": round(max(values), 3) if values else None,
    }


@dataclass
class Results:
    sessions: int
    jobs: int
    watchers: int
    epochs: int | None
    cpus: int | None
    load_before: float = 0.0  # the 1-minute load average: other work on the machine
    load_after: float = 0.0
    client_cpu_s: float = 0.0  # what the tabs, in this process, took
    streamlit: str = streamlit.__version__
    baseline: dict[str, float] = field(default_factory=dict)
    first_page_s: float = 0.0
    alone: dict[str, object] = field(default_factory=dict)
    watched: dict[str, object] = field(default_factory=dict)
    watching_tabs: int = 0  # of the watched job's tabs, the fewest that saw it (any repeat)
    watched_fragments: dict[str, object] = field(default_factory=dict)
    class_jobs: list[dict[str, object]] = field(default_factory=list)
    class_pages: dict[str, object] = field(default_factory=dict)  # on arriving
    class_reloads: dict[str, object] = field(default_factory=dict)  # while the queue runs
    page_loads_s: list[float] = field(default_factory=list)  # both, every one
    class_connects: dict[str, object] = field(default_factory=dict)
    class_clicks: dict[str, object] = field(default_factory=dict)
    class_fragments: dict[str, object] = field(default_factory=dict)
    class_server_runs: dict[str, object] = field(default_factory=dict)
    class_started: int = 0
    class_seconds: float = 0.0
    bytes_per_tab_mb: dict[str, object] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    page_errors: list[str] = field(default_factory=list)
    server_log: list[str] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)


def memory(sample: Sample) -> dict[str, float]:
    return {
        "rss_mb": round(sample.total_mb, 1),
        "server_mb": round(sample.server_mb, 1),
        "children_mb": round(sample.children_mb, 1),
        "threads": sample.threads,
        "children": sample.children,
    }


def fragment_figures(tabs: list[StreamlitTab]) -> dict[str, object]:
    """Auto-rerun request -> that fragment's next finished run, over all tabs, by interval."""
    every: dict[float, list[float]] = {}
    for tab in tabs:
        for interval, times in tab.seen.fragment_runs_every.items():
            every.setdefault(interval, []).extend(times)
    return {
        **spread([f for t in tabs for f in t.seen.fragment_runs]),
        "requests": sum(t.seen.fragment_requests for t in tabs),
        "interrupted": sum(t.seen.fragment_interrupted for t in tabs),
        "every": {f"{k:g} s": spread(v) for k, v in sorted(every.items())},
    }


def page_problems(tabs: list[StreamlitTab]) -> list[str]:
    found: list[str] = []
    for tab in tabs:
        for text in tab.seen.exceptions + tab.seen.errors:
            if text not in found:
                found.append(text[:200])
    return found


# ---- the phases ----------------------------------------------------------------------------


async def alone(base: str, runs: Path, sampler: Sampler, out: Results, args: Namespace) -> JobTime:
    """One job with nobody connected (its starter closes at once); the first time, the
    baseline memory just after the server's first page load."""
    before = run_ids(runs)
    tab = StreamlitTab(base, PAGE, QUERY, new_cookie())
    await tab.connect()
    page_s = await tab.load()
    if not out.baseline:
        await asyncio.sleep(2)  # what the first run left behind settles (its script thread ends)
        out.first_page_s = round(page_s, 3)
        out.baseline = memory(sampler.now())
        print(
            f"baseline after the first page load ({page_s:.2f} s, cold): "
            f"{out.baseline['rss_mb']:.0f} MB RSS, {out.baseline['threads']} threads",
            flush=True,
        )
    await start_job(tab, args.epochs)
    await tab.close()
    (run,) = await wait_runs(runs, before, 1, args.timeout)
    job = job_time(runs, run)
    print(f"alone: {job.train_s} s training, {job.elapsed_s} s in the worker", flush=True)
    out.page_errors += page_problems([tab])
    return job


async def watched(base: str, runs: Path, out: Results, args: Namespace) -> JobTime:
    """One job, watched by ``--watchers`` tabs of one browser until it ends."""
    before = run_ids(runs)
    cookie = new_cookie()
    starter = await open_tab(base, cookie)
    await start_job(starter, args.epochs)
    # the other tabs open the URL the starter shows now, with the same cookie
    others = await asyncio.gather(
        *(open_tab(base, cookie, starter.query_string) for _ in range(args.watchers - 1))
    )
    tabs = [starter, *others]
    (run,) = await wait_runs(runs, before, 1, args.timeout)
    await asyncio.sleep(2.5)  # the tabs see it end (the rows fragment reruns every 2 s)
    await close_all(tabs)
    job = job_time(runs, run)
    seeing = sum(bool(t.seen.fragments_seen) for t in tabs)
    out.watching_tabs = min(out.watching_tabs or seeing, seeing)
    out.watched_fragments = fragment_figures(tabs)
    print(
        f"watched by {seeing} of {len(tabs)} tabs: {job.train_s} s training, "
        f"{job.elapsed_s} s in the worker",
        flush=True,
    )
    out.page_errors += page_problems(tabs)
    return job


def fastest(jobs: list[JobTime]) -> JobTime:
    """The fastest of the repeats (the least disturbed by anything else on the machine)."""
    done = [j for j in jobs if j.train_s is not None]
    return min(done, key=lambda j: j.train_s or 0.0) if done else jobs[0]


async def the_class(
    base: str, runs: Path, out: Results, args: Namespace, alone_s: float
) -> list[StreamlitTab]:
    """``--sessions`` tabs arrive, ``--jobs`` of them start a job, all watch until the end."""
    before = run_ids(runs)
    started = time.monotonic()
    gap = CONNECT_WINDOW_S / max(1, args.sessions)
    tabs = [StreamlitTab(base, PAGE, QUERY, new_cookie()) for _ in range(args.sessions)]
    connects: list[float] = []
    # the starters are spread among the arrivals and click as soon as their page is up:
    # the later tabs load while jobs train
    every = args.sessions / args.jobs
    starters = [tabs[int(i * every)] for i in range(args.jobs)]

    async def arrive(i: int, tab: StreamlitTab) -> None:
        await asyncio.sleep(i * gap)
        connects.append(await tab.connect())
        await tab.load()
        if tab in starters:
            await start_job(tab, args.epochs)

    await asyncio.gather(*(arrive(i, t) for i, t in enumerate(tabs)))
    pages = [t.seen.page_loads[0] for t in tabs]
    await asyncio.sleep(1)
    submitted = len(run_ids(runs) - before)
    out.class_started = submitted
    print(
        f"class: {len(tabs)} tabs loaded the page in {time.monotonic() - started:.1f} s "
        f"(median {statistics.median(pages):.2f} s, worst {max(pages):.2f} s); "
        f"{len(starters)} clicked Start: {submitted} job(s) submitted",
        flush=True,
    )
    # a while later, every tab reloads the page once (a refresh, a return from another
    # page), over the same 10 s, while the queue is busy
    await asyncio.sleep(RELOAD_AFTER_S)

    async def reload(i: int, tab: StreamlitTab) -> None:
        await asyncio.sleep(i * gap)
        await tab.load()

    await asyncio.gather(*(reload(i, t) for i, t in enumerate(tabs)))
    reloads = [t.seen.page_loads[1] for t in tabs]
    print(
        f"class: every tab reloaded (median {statistics.median(reloads):.2f} s, worst "
        f"{max(reloads):.2f} s)",
        flush=True,
    )
    ids = await wait_runs(runs, before, submitted, args.timeout)
    await asyncio.sleep(2.5)  # the last tab sees its job end
    out.class_seconds = round(time.monotonic() - started, 1)
    for run in ids:
        job = job_time(runs, run)
        ratio = (job.train_s or float("nan")) / alone_s
        out.class_jobs.append({**asdict(job), "ratio": round(ratio, 3)})
    out.class_pages = spread(pages)
    out.class_reloads = spread(reloads)
    out.page_loads_s = [round(x, 3) for x in pages + reloads]
    out.class_connects = spread(connects)
    out.class_clicks = spread([c for t in starters for c in t.seen.clicks])
    out.class_fragments = fragment_figures(tabs)
    out.class_server_runs = spread([r for t in tabs for r in t.seen.server_runs])
    out.bytes_per_tab_mb = spread([t.seen.bytes_in / 2**20 for t in tabs])
    out.page_errors += page_problems(tabs)
    return tabs


async def bench(server: Server, runs: Path, args: Namespace) -> Results:
    out = Results(args.sessions, args.jobs, args.watchers, args.epochs, os.cpu_count())
    base = f"ws://127.0.0.1:{server.port}"
    origin = time.monotonic()
    sampler = Sampler(server, origin)
    sampler.start()
    try:
        alone_jobs, watched_jobs = [], []
        for _ in range(args.repeats):  # interleaved: a slow spell on the host hits both
            alone_jobs.append(await alone(base, runs, sampler, out, args))
            watched_jobs.append(await watched(base, runs, out, args))
        one, seen = fastest(alone_jobs), fastest(watched_jobs)
        alone_s = one.train_s or float("nan")
        ratio = (seen.train_s or float("nan")) / alone_s
        out.alone = {**asdict(one), "all_train_s": [j.train_s for j in alone_jobs]}
        out.watched = {**asdict(seen), "all_train_s": [j.train_s for j in watched_jobs]}
        out.watched["ratio"] = round(ratio, 3)
        mark = len(sampler.samples)
        tabs = await the_class(base, runs, out, args, alone_s)
        during = sampler.samples[mark:]
        await close_all(tabs)
        await asyncio.sleep(SETTLE_S)
        out.after = memory(sampler.now())
        peak = max(during, key=lambda s: s.total_mb)
        out.peak = {**memory(peak), "threads_max": max(s.threads for s in during)}
    finally:
        sampler.stop()
    out.samples = [asdict(s) for s in sampler.samples]
    return out


# ---- the report ----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(out: Results) -> None:
    alone_s = out.alone.get("train_s")
    print(
        f"\n{out.sessions} tabs, {out.jobs} jobs, {out.watchers} watchers, epochs "
        f"{out.epochs or 'as proposed'}; {out.cpus} CPUs; streamlit {out.streamlit}; load "
        f"average {out.load_before:.2f} before, {out.load_after:.2f} after; the tabs (this "
        f"process) used {out.client_cpu_s:.0f} s of CPU"
    )
    print(f"{'job':<20} {'status':>9} {'start s':>7} {'train s':>8} {'worker s':>9} {'ratio':>6}")
    rows = [("alone", out.alone), (f"watched by {out.watchers}", out.watched)]
    rows += [(f"class {i + 1}", job) for i, job in enumerate(out.class_jobs)]
    for name, job in rows:
        ratio = job.get("ratio", 1.0 if job is out.alone else None)
        label = f"{name} (…{str(job.get('run', ''))[-4:]})"
        print(
            f"{label:<20} {job.get('status', ''):>9} "
            f"{_f(job.get('wait_s')):>7} {_f(job.get('train_s')):>8} "
            f"{_f(job.get('elapsed_s')):>9} {_f(ratio, 2):>6}"
        )
    watch = out.watched_fragments
    print(
        f"(alone and watched: the fastest of {out.alone['all_train_s']} and "
        f"{out.watched['all_train_s']} s; start s = submitted -> training started: the queue "
        f"and the worker's start; worker s = its whole run)\nthe watched job's tabs: "
        f"{watch['n']} fragment runs, median {_f(watch['median'], 2)} s, worst "
        f"{_f(watch['worst'], 2)} s"
    )
    pages, frags, clicks = out.class_pages, out.class_fragments, out.class_clicks
    reloads = out.class_reloads
    print(
        f"\npage loads ({pages['n']} tabs arriving over {CONNECT_WINDOW_S:.0f} s): median "
        f"{_f(pages['median'], 2)} s, worst {_f(pages['worst'], 2)} s; reloads while jobs "
        f"train: median {_f(reloads['median'], 2)} s, worst {_f(reloads['worst'], 2)} s; first "
        f"page on the cold server {out.first_page_s:.2f} s; websocket connect worst "
        f"{_f(out.class_connects['worst'], 3)} s"
    )
    print(
        f"Start clicks ({clicks['n']}): median {_f(clicks['median'], 2)} s, worst "
        f"{_f(clicks['worst'], 2)} s; {out.class_started} job(s) submitted"
    )
    print(
        f"fragment reruns, request -> its fragment redrawn ({frags['n']} runs for "
        f"{frags['requests']} requests): median {_f(frags['median'], 2)} s, worst "
        f"{_f(frags['worst'], 2)} s; "
        + ", ".join(
            f"every {k}: median {_f(v['median'], 2)} s, worst {_f(v['worst'], 2)} s"
            for k, v in frags["every"].items()
        )
    )
    print(
        f"  {frags['interrupted']} fragment run(s) ended early for a newer request (the "
        "other fragment's timer): their update waits one interval more"
    )
    print(
        f"full reruns the server started (a job ended: st.rerun): {out.class_server_runs['n']}, "
        f"median {_f(out.class_server_runs['median'], 2)} s, worst "
        f"{_f(out.class_server_runs['worst'], 2)} s"
    )
    print(
        f"received per tab: median {_f(out.bytes_per_tab_mb['median'], 1)} MB, most "
        f"{_f(out.bytes_per_tab_mb['worst'], 1)} MB; the class took {out.class_seconds:.0f} s"
    )
    base, peak, after = out.baseline, out.peak, out.after
    grown = after["rss_mb"] - base["rss_mb"]
    print(
        f"RSS (server + training processes): baseline {base['rss_mb']:.0f} MB, peak "
        f"{peak['rss_mb']:.0f} MB ({peak['server_mb']:.0f} + {peak['children_mb']:.0f}), "
        f"{SETTLE_S:.0f} s after the class left {after['rss_mb']:.0f} MB ({grown:+.0f} MB)"
    )
    print(
        f"threads: baseline {base['threads']}, most {peak['threads_max']}, after "
        f"{after['threads']}; training processes left: {after['children']}"
    )
    ratio = out.watched.get("ratio")
    print("\ntargets:")
    worst = max(out.page_loads_s)
    print(
        f"  every page load within {PAGE_TARGET_S:g} s: worst {_f(worst, 2)} s "
        f"{verdict(worst <= PAGE_TARGET_S)}"
    )
    seeing = out.watching_tabs
    print(
        f"  watched by {out.watchers} ({seeing} saw it) <= {WATCHED_TARGET}x alone: "
        f"{_f(out.watched.get('train_s'))} s / {_f(alone_s)} s = {_f(ratio, 2)}x "
        f"{verdict(isinstance(ratio, float) and ratio <= WATCHED_TARGET)}"
    )
    print(
        f"  RSS after within {RSS_TARGET_MB:g} MB of the baseline: {grown:+.0f} MB "
        f"{verdict(grown <= RSS_TARGET_MB)}"
    )
    if out.page_errors:
        print(f"\nshown on the pages ({len(out.page_errors)}): " + " | ".join(out.page_errors[:5]))
    if out.server_log:
        print(f"\nserver log, {len(out.server_log)} problem line(s), first ones:")
        for line in out.server_log[:8]:
            print(f"  {line[:160]}")
    else:
        print("\nserver log: no errors, warnings or tracebacks")


def _f(value: object, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "—"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--watchers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=None, help="default: the page's proposal")
    parser.add_argument("--timeout", type=float, default=900.0, help="for each wait on jobs")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2, help="of the alone and watched jobs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="6 tabs, 2 jobs, 1 epoch")
    parser.add_argument(
        "--cgroup",
        type=Path,
        default=None,
        help="run the server in this cgroup folder (made and capped beforehand, as root: "
        "e.g. /sys/fs/cgroup/memory/class with memory.limit_in_bytes set): a host's memory cap",
    )
    parser.add_argument(
        "--post-script-gc",
        choices=("on", "off"),
        default=None,
        help="override runner.postScriptGC (off in .streamlit/config.toml) to measure it",
    )
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.jobs, args.epochs = 6, 2, args.epochs or 1
    if not 1 <= args.jobs <= args.sessions or args.watchers < 1 or args.repeats < 1:
        parser.error("need 1 <= --jobs <= --sessions, --watchers >= 1 and --repeats >= 1")
    # a kill (SIGTERM) unwinds like Ctrl-C: the server and the temporary folder go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    folder = Path(tempfile.mkdtemp(prefix="bench-class-"))
    load_before = os.getloadavg()[0]
    print(f"load average {load_before:.2f} on {os.cpu_count()} CPUs", flush=True)
    gc = None if args.post_script_gc is None else args.post_script_gc == "on"
    server = Server(folder, args.port or free_port(), args.cgroup, gc)
    cpu = time.process_time()
    try:
        server.wait_healthy()
        out = asyncio.run(bench(server, folder / "runs", args))
    finally:
        server.stop()
        problems = server.problems()
        shutil.rmtree(folder, ignore_errors=True)
    out.server_log = problems
    out.load_before, out.load_after = load_before, os.getloadavg()[0]
    out.client_cpu_s = round(time.process_time() - cpu, 1)
    report(out)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(out), indent=1))
        print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
