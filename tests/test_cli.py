"""``python -m googlenet_core summary`` prints the table or JSON, and refuses bad input."""

from __future__ import annotations

import json
import subprocess
import sys

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
    from googlenet_core import get_preset

    path = tmp_path / "net.json"
    path.write_text(get_preset("paper").to_json())
    assert main(["summary", "--config", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["dropout"] == 0.4


def test_bad_input_is_a_message_not_a_traceback(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"stem": []')
    for args in (
        ["summary", "--preset", "paper", "--input-size", "20"],
        ["summary", "--config", str(bad)],
        ["summary", "--config", str(tmp_path / "missing.json")],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "googlenet_core", *args], capture_output=True, text=True
        )
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
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
    assert "smallest input this network accepts is 79x79" in proc.stderr
