"""``python -m googlenet_core summary`` prints the table or JSON, and refuses bad input."""

from __future__ import annotations

import json
import subprocess
import sys

from googlenet_core import get_preset
from googlenet_core.cli import main


def test_summary_table(capsys) -> None:
    assert main(["summary", "--preset", "torchvision"]) == 0
    out = capsys.readouterr().out
    assert "inception4e" in out and "832 x 14 x 14" in out
    assert "13,004,888 (6,624,904 without aux heads)" in out
    assert "1.498 G without aux heads" in out


def test_summary_json_with_input_size(capsys) -> None:
    assert main(["summary", "--preset", "mini", "--input-size", "28", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["config"]["input_size"] == 28
    rows = {row["name"]: row for row in payload["rows"]}
    assert rows["inception3a"]["in_shape"] == [32, 14, 14]
    assert payload["total_params"] == sum(row["params"] for row in payload["rows"])


def test_config_file_round_trip(tmp_path, capsys) -> None:
    path = tmp_path / "net.json"
    path.write_text(get_preset("paper").to_json())
    assert main(["summary", "--config", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["dropout"] == 0.4


def test_bad_input_is_a_message_not_a_traceback(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"stem": []')
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 30_000 + "]" * 30_000)
    for args, words in (
        (
            ["--preset", "paper", "--input-size", "20"],
            "smallest input this network accepts is 79x79",
        ),
        (["--config", str(bad)], "not valid JSON"),
        (["--config", str(deep)], "nested too deeply"),
        (["--config", str(tmp_path / "missing.json")], "cannot read"),
    ):
        assert main(["summary", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err, err


def test_the_module_runs_as_a_program_and_prints_no_traceback() -> None:
    """One real subprocess: ``python -m googlenet_core`` is the documented entry point."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "googlenet_core",
            "summary",
            "--preset",
            "paper",
            "--input-size",
            "20",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("error: input_size 20 is too small")
        and "Traceback" not in proc.stderr
    )
