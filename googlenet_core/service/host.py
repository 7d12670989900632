"""What this container really has: CPUs and memory from the kernel's limits, not the host's.

``os.cpu_count()`` and torch's default thread count see the *host's* cores; on
Streamlit Community Cloud or in Docker the container gets a CPU quota (cgroup v2
``cpu.max``, v1 ``cpu.cfs_quota_us``) and maybe an affinity mask far below that.
torch then starts one spinning thread per host core and, with another busy process
on the same cores, a short run took 51x longer than with one thread. One place
decides, for the CLI, the training jobs and the dashboard process:

- :func:`available_cpus`: the affinity mask, capped by the CPU quota (rounded up);
- :func:`memory_limit`: cgroup ``memory.max`` (v1 ``memory.limit_in_bytes``), else
  physical memory;
- :func:`training_threads`: the threads a training process uses (``$GOOGLENET_THREADS``
  overrides): the available CPUs, fewer where other processes keep some busy, and one
  fewer beside the dashboard's server; :func:`threads_env`: the environment a job's
  process starts with;
- :func:`lan_address`: this computer's address on its network, for a link students open.

Every figure comes with where it came from, so the pages can show the choice. The
overrides are read through :mod:`.settings`, like every other setting.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ..i18n import _
from .settings import current

THREADS_ENV = "GOOGLENET_THREADS"
MEMORY_ENV = "GOOGLENET_MEMORY_MB"
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Figure:
    value: int
    source: str  # a few words: "cgroup cpu.max", "affinity", "$GOOGLENET_THREADS", ...


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup(root: Path) -> Path:
    """This process's cgroup v2 folder (``/proc/self/cgroup``'s ``0::/path``), else root."""
    text = _read(Path("/proc/self/cgroup")) if root == CGROUP_ROOT else None
    for line in (text or "").splitlines():
        if line.startswith("0::"):
            candidate = root / line[3:].lstrip("/")
            if candidate.is_dir():
                return candidate
    return root


def _v1_folder(root: Path, controller: str) -> Path:
    """This process's cgroup v1 folder for ``controller`` (``N:memory:/path``), if mounted
    there, else the controller's root (a container usually sees its own cgroup as root)."""
    base = root / controller
    text = _read(Path("/proc/self/cgroup")) if root == CGROUP_ROOT else None
    for line in (text or "").splitlines():
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if controller in controllers.split(","):
            candidate = base / path.lstrip("/")
            if path.strip("/") and candidate.is_dir():
                return candidate
    return base


def cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota allows (e.g. 0.5, 2.0), None when unlimited or unknown."""
    own = _own_cgroup(root)
    for folder in dict.fromkeys((own, root)):  # v2: "max 100000" or "50000 100000"
        text = _read(folder / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota == "max":
                return None
            try:
                return int(quota) / int(period or 100_000)
            except ValueError:
                return None
    v1 = _v1_folder(root, "cpu")
    quota_text = _read(v1 / "cpu.cfs_quota_us")
    period_text = _read(v1 / "cpu.cfs_period_us")
    if quota_text and period_text:
        try:
            quota_us, period_us = int(quota_text), int(period_text)
        except ValueError:
            return None
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> Figure:
    """CPUs this process may really use: its affinity mask, capped by the cgroup quota."""
    try:
        cpus, source = len(os.sched_getaffinity(0)), _("CPU affinity")
    except AttributeError:  # macOS, Windows: no affinity call
        cpus, source = os.cpu_count() or 1, "os.cpu_count()"
    quota = cpu_quota(root)
    if quota is not None and math.ceil(quota) < cpus:
        return Figure(max(1, math.ceil(quota)), _("cgroup CPU quota {quota:g}").format(quota=quota))
    return Figure(max(1, cpus), source)


def memory_limit(root: Path = CGROUP_ROOT) -> Figure:
    """Bytes this process may use: ``$GOOGLENET_MEMORY_MB``, the cgroup limit, else RAM."""
    megabytes = current().memory_mb
    if megabytes is not None:
        return Figure(megabytes * 2**20, f"${MEMORY_ENV}")
    own = _own_cgroup(root)
    for folder in dict.fromkeys((own, root)):
        value = _read(folder / "memory.max")
        if value and value != "max" and value.isdigit():
            return Figure(int(value), "cgroup memory.max")
    value = _read(_v1_folder(root, "memory") / "memory.limit_in_bytes")  # "no limit": ~2**63
    physical = _physical_memory()
    if value and value.isdigit() and int(value) < physical:
        return Figure(int(value), "cgroup memory.limit_in_bytes")
    return Figure(physical, _("physical memory"))


def resident_bytes(pid: int | str = "self") -> int:
    """A process's resident memory (VmRSS), 0 where /proc cannot tell."""
    text = _read(Path(f"/proc/{pid}/status")) or ""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # kB
    return 0


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30  # a platform without sysconf: assume a small laptop


def idle_cpus(sample_s: float = 0.3) -> float | None:
    """How many of this process's CPUs sat idle over ``sample_s`` (``/proc/stat``), or None.

    Other processes' load: a CPU another program keeps busy is not one a training
    thread can have (a thread that waits for it spins and slows every step).
    """
    try:
        mine = {f"cpu{i}" for i in os.sched_getaffinity(0)}
    except AttributeError:
        return None

    def sample() -> tuple[int, int] | None:
        text = _read(Path("/proc/stat"))
        if not text:
            return None
        idle = total = 0
        for line in text.splitlines():
            name, *values = line.split()
            if name in mine:
                numbers = [int(v) for v in values[:8]]
                idle += numbers[3] + numbers[4]  # idle + iowait
                total += sum(numbers)
        return (idle, total) if total else None

    first = sample()
    time.sleep(sample_s)
    second = sample()
    if first is None or second is None or second[1] <= first[1]:
        return None
    return len(mine) * (second[0] - first[0]) / (second[1] - first[1])


def training_threads(
    *, leave_one_for_server: bool = False, measure_load: bool = True, root: Path = CGROUP_ROOT
) -> Figure:
    """Threads for one training process: ``$GOOGLENET_THREADS``, else the CPUs it can have.

    The available CPUs (:func:`available_cpus`), fewer where other processes keep some
    busy right now (``measure_load``, :func:`idle_cpus`: two threads on two cores with
    one busy process beside them ran 2.5-4x slower than one thread). A job beside the
    dashboard (``leave_one_for_server``) also leaves one CPU to the server, the process
    that answers every tab, when there are at least two.
    """
    threads = current().threads
    if threads is not None:
        return Figure(threads, f"${THREADS_ENV}")
    cpus = available_cpus(root)
    threads, source = cpus.value, f"{cpus.source}: {cpus.value}"
    if leave_one_for_server and threads >= 2:
        threads, source = threads - 1, _("{source}, one left to the server").format(source=source)
    idle = idle_cpus() if measure_load and threads >= 2 else None
    if idle is not None and round(idle) < threads:
        threads = max(1, round(idle))
        source = _("{source}; {idle:.1f} idle now").format(source=source, idle=idle)
    return Figure(threads, source)


def threads_env(threads: int) -> dict[str, str]:
    """Environment for a process that will import torch and use ``threads`` threads.

    (``OMP_WAIT_POLICY=PASSIVE``, threads that sleep instead of spinning, was measured
    and left out: two passive threads on a quiet 2-core machine took 25-27 s for a run
    that took 14 s with torch's default and 16 s with one thread.)
    """
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def lan_address() -> str | None:
    """This computer's address on its network (``192.168.1.20``), as other machines in the
    room would reach it, or ``None`` when it has none but loopback.

    A UDP socket "connected" to a private address sends nothing; the kernel only picks
    the interface it would route through. Without a route, the host name's addresses.
    """
    candidates: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))
        candidates.append(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        candidates.extend(str(info[4][0]) for info in infos)
    for address in candidates:
        if not ipaddress.ip_address(address).is_loopback and address != "0.0.0.0":
            return address
    return None
