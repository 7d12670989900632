"""CPUs and memory from the container's limits (fake cgroup folders), and the thread choice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from googlenet_core.service.host import (
    MEMORY_ENV,
    THREADS_ENV,
    available_cpus,
    cpu_quota,
    idle_cpus,
    memory_limit,
    threads_env,
    training_threads,
)
from googlenet_core.service.settings import problems


def _cgroup(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return tmp_path


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_cgroup_v2_quota_caps_the_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    half = _cgroup(tmp_path / "half", **{"cpu.max": "50000 100000"})
    assert cpu_quota(half) == 0.5
    assert available_cpus(half).value == 1  # a fraction of a CPU still runs one thread
    assert "quota 0.5" in available_cpus(half).source
    unlimited = _cgroup(tmp_path / "max", **{"cpu.max": "max 100000"})
    assert cpu_quota(unlimited) is None
    assert available_cpus(unlimited).value == _affinity()
    many = _cgroup(tmp_path / "many", **{"cpu.max": "6400000 100000"})  # 64 CPUs of quota
    assert available_cpus(many).value == _affinity()  # the affinity mask is smaller


def test_cgroup_v1_quota_and_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    root = _cgroup(
        tmp_path,
        **{
            "cpu__cpu.cfs_quota_us": "150000",
            "cpu__cpu.cfs_period_us": "100000",
            "memory__memory.limit_in_bytes": str(690 * 2**20),
        },
    )
    assert cpu_quota(root) == 1.5
    assert available_cpus(root).value == min(2, _affinity())
    assert memory_limit(root).value == 690 * 2**20
    # v1 writes "no limit" as a huge number: physical memory is the limit then.
    (root / "memory/memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert memory_limit(root).source == "physical memory"
    (root / "cpu/cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(root) is None


def test_memory_from_v2_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    root = _cgroup(tmp_path, **{"memory.max": str(2700 * 2**20)})
    assert memory_limit(root).value == 2700 * 2**20
    assert memory_limit(root).source == "cgroup memory.max"
    monkeypatch.setenv(MEMORY_ENV, "1024")
    assert memory_limit(root).value == 2**30
    monkeypatch.setenv(MEMORY_ENV, "lots")  # a typo: the cgroup's limit, and a sentence
    assert memory_limit(root).value == 2700 * 2**20
    assert problems() == (
        "GOOGLENET_MEMORY_MB must be whole megabytes, got 'lots': the default (the cgroup's "
        "`memory.max` / `memory.limit_in_bytes`, else RAM) is used",
    )


def test_threads_leave_one_cpu_to_the_server_and_obey_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    two = _cgroup(tmp_path / "two", **{"cpu.max": "200000 100000"})
    one = _cgroup(tmp_path / "one", **{"cpu.max": "100000 100000"})
    if _affinity() >= 2:
        assert training_threads(root=two, measure_load=False).value == 2
        served = training_threads(leave_one_for_server=True, root=two, measure_load=False)
        assert served.value == 1 and "one left to the server" in served.source
    assert training_threads(leave_one_for_server=True, root=one).value == 1  # never 0
    monkeypatch.setenv(THREADS_ENV, "3")
    assert training_threads(leave_one_for_server=True, root=one).value == 3
    monkeypatch.setenv(THREADS_ENV, "0")  # not allowed: chosen as if unset, and said
    assert training_threads(root=one, measure_load=False).value == 1
    assert problems() and problems()[0].startswith("GOOGLENET_THREADS must be at least 1, got 0")
    assert threads_env(2)["OMP_NUM_THREADS"] == "2"


def test_busy_cpus_take_threads_away(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real busy process beside us: the measured idle CPUs drop and so do the threads."""
    monkeypatch.delenv(THREADS_ENV, raising=False)
    if _affinity() < 2 or idle_cpus() is None:
        pytest.skip("needs two CPUs and /proc/stat")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        idle = idle_cpus(0.5)
        assert idle is not None and idle < _affinity() - 0.5
        root = _cgroup(tmp_path, **{"cpu.max": "max 100000"})
        chosen = training_threads(root=root)
        assert chosen.value <= max(1, round(idle)) and "idle now" in chosen.source
    finally:
        busy.kill()
        busy.wait()


V1_MEMORY = Path("/sys/fs/cgroup/memory")


def test_a_process_in_a_capped_v1_cgroup_reads_its_own_limit() -> None:
    """A real cgroup (v1, as on this kind of host): a child moved into a capped group sees
    that group's limit, not the unlimited root's. Skips without v1 or the rights to make one."""
    group = V1_MEMORY / f"googlenet-test-{os.getpid()}"
    try:
        group.mkdir()
    except OSError:
        pytest.skip("no writable cgroup v1 memory hierarchy here")
    try:
        (group / "memory.limit_in_bytes").write_text(str(1536 * 2**20))
        script = (
            "import os, sys; from pathlib import Path; "
            f"Path({str(group / 'cgroup.procs')!r}).write_text(str(os.getpid())); "
            "from googlenet_core.service.host import memory_limit; f = memory_limit(); "
            "print(f.value, f.source)"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        ).stdout.split(maxsplit=1)  # fmt: skip
        assert int(out[0]) == 1536 * 2**20 and "memory.limit_in_bytes" in out[1]
    finally:
        for _ in range(50):  # the child has exited; the kernel frees the group shortly
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
