"""Who sees, shares and deletes a run, and what retention removes: real run folders."""

from __future__ import annotations

import os
import time

import pytest
from tiny import tiny_config, tiny_train_config

from googlenet_core.service.access import (
    ACCESS_FILE,
    HOST_RUN,
    Access,
    Viewer,
    class_id,
    delete_run,
    new_secret,
    owner_id,
    read_access,
    set_sharing,
    valid_secret,
    visible,
    who_sees,
    write_access,
)
from googlenet_core.service.retention import prune, retention
from googlenet_core.service.settings import problems
from googlenet_core.training.runs import Run, list_runs

ALICE = Viewer(owner_id(new_secret()))
BOB = Viewer(owner_id(new_secret()))


def _run(root, access: Access | None, status: str = "completed") -> Run:
    files = {ACCESS_FILE: access.to_json()} if access is not None else None
    run = Run.create(tiny_config(), tiny_train_config(), root, status="queued", files=files)
    if status != "queued":
        run.set_status(status, "")  # type: ignore[arg-type]
    return run


def test_secrets_are_random_and_checked_and_never_stored() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and valid_secret(first)
    for bad in ("", "abc", "x" * 32, first.upper(), None, 12, first + "\n"):
        assert not valid_secret(bad)
    assert first not in owner_id(first) and owner_id(first) == owner_id(first)
    assert owner_id(first) != owner_id(second)


def test_class_codes_ignore_case_and_spaces_and_blank_is_none() -> None:
    assert class_id(" CNN-101 ") == class_id("cnn-101") != class_id("cnn-102")
    assert class_id("") is None and class_id("   ") is None
    with pytest.raises(ValueError, match="at most 64"):
        class_id("x" * 65)


def test_private_class_public_and_host_runs_are_seen_by_the_right_browsers(tmp_path) -> None:
    alice_in_class = Viewer(ALICE.owner, class_id("cnn-101"))
    bob_in_class = Viewer(BOB.owner, class_id("CNN-101"))
    carol_elsewhere = Viewer(owner_id(new_secret()), class_id("other"))
    private = _run(tmp_path, ALICE.new_run())
    classy = _run(tmp_path, alice_in_class.new_run())
    public = _run(tmp_path, Access(ALICE.owner, "public"))
    host = _run(tmp_path, None)  # from the command line
    ids = {v: [s.id for s in visible(list_runs(tmp_path), v)] for v in (ALICE, bob_in_class)}
    assert set(ids[ALICE]) == {private.id, classy.id, public.id, host.id}
    assert set(ids[bob_in_class]) == {classy.id, public.id, host.id}
    seen = {s.id for s in visible(list_runs(tmp_path), carol_elsewhere)}
    assert seen == {public.id, host.id}
    assert read_access(host.path) == HOST_RUN and read_access(classy.path).shared == "class"


def test_a_damaged_access_file_hides_the_run_from_everyone(tmp_path) -> None:
    run = _run(tmp_path, ALICE.new_run())
    (run.path / ACCESS_FILE).write_text('{"owner": ')
    assert not ALICE.can_see(read_access(run.path)) and not BOB.can_see(read_access(run.path))
    (run.path / ACCESS_FILE).write_text('{"owner": "x", "shared": "everyone"}')
    assert visible(list_runs(tmp_path), BOB) == []


def test_only_the_owner_shares_or_deletes_and_only_finished_runs(tmp_path) -> None:
    run = _run(tmp_path, ALICE.new_run())
    with pytest.raises(PermissionError, match="only the browser that started"):
        set_sharing(run.path, BOB, "public")
    with pytest.raises(ValueError, match="class code first"):
        set_sharing(run.path, ALICE, "class")
    assert set_sharing(run.path, ALICE, "public").shared == "public"
    assert BOB.can_see(read_access(run.path))
    with pytest.raises(PermissionError):
        delete_run(run.path, BOB)
    running = _run(tmp_path, ALICE.new_run(), status="running")
    with pytest.raises(ValueError, match="cancel it first"):
        delete_run(running.path, ALICE)
    delete_run(run.path, ALICE)
    assert not run.path.exists() and running.path.exists()


def test_retention_keeps_the_newest_and_the_hosts_and_live_runs(tmp_path) -> None:
    old = [_run(tmp_path, ALICE.new_run()) for _ in range(3)]
    host = _run(tmp_path, None)
    live = _run(tmp_path, BOB.new_run(), status="running")
    newest = _run(tmp_path, BOB.new_run())
    removed = prune(tmp_path, keep=2, days=30)
    # Newest first: newest, live (kept: still running), then old[2], old[1], old[0] beyond 2.
    assert set(removed) == {r.id for r in old}
    assert all(r.path.exists() for r in (host, live, newest))
    # Age: a run made "40 days ago" goes even under the count.
    assert prune(tmp_path, keep=10, days=30, now=time.time() + 40 * 86_400) == [newest.id]
    assert host.path.exists() and live.path.exists()


def test_retention_sweeps_the_temporary_files_of_killed_saves(tmp_path) -> None:
    run = _run(tmp_path, ALICE.new_run())
    leftover = run.path / ".best.pt.1a2b.tmp"
    leftover.write_bytes(b"half a checkpoint")
    prune(tmp_path, keep=10, days=30)
    assert not leftover.exists() and run.path.exists()


def test_retention_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("GOOGLENET_KEEP_RUNS", "7")
    monkeypatch.setenv("GOOGLENET_KEEP_DAYS", "2")
    assert retention() == (7, 2)
    monkeypatch.setenv("GOOGLENET_KEEP_DAYS", "0")  # not allowed: the default, and said
    assert retention() == (7, 14) and "GOOGLENET_KEEP_DAYS must be at least 1" in problems()[0]


def test_the_access_file_is_written_before_the_status(tmp_path) -> None:
    """A lister never sees a dashboard run without its owner (it would read as the host's)."""
    run = _run(tmp_path, ALICE.new_run(), status="queued")
    access, status = run.path / ACCESS_FILE, run.path / "status.json"
    assert os.stat(access).st_mtime_ns <= os.stat(status).st_mtime_ns
    write_access(run.path, Access(ALICE.owner, "public"))
    assert read_access(run.path).shared == "public"


def test_who_sees_a_run_is_said_from_the_viewers_side() -> None:
    bob = Viewer(owner_id(new_secret()), class_id("CNN-101"))
    mine = Access(ALICE.owner, "private")
    assert who_sees(mine, ALICE) == "only you (you)"
    assert who_sees(mine, bob) == "only another browser"
    assert who_sees(Access(ALICE.owner, "class", class_id("CNN-101")), bob) == "your class"
    assert who_sees(Access(ALICE.owner, "public"), ALICE) == "everyone (you)"
    assert who_sees(HOST_RUN, bob) == "everyone (host's run)"
