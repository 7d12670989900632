"""``python -m googlenet_core train`` and ``evaluate``: run folders, exit codes, JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import tiny_config

from googlenet_core.cli import build_parser, main
from googlenet_core.cli.train import plan_from_args
from googlenet_core.data.digits import load_digits
from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.network.presets import get_preset
from googlenet_core.training.plan import Choices, plan_training
from googlenet_core.training.runs import list_runs, open_run


@pytest.fixture
def tiny_json(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(tiny_config().to_json())
    return path


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def test_flags_are_choices_and_the_rest_is_the_plan(tmp_path) -> None:
    mini = get_preset("mini")
    assert plan_from_args(_args("--preset", "mini")) == plan_training(mini, "digits")
    assert plan_from_args(_args()) == plan_training(mini, "digits")  # mini is the default
    mine = plan_from_args(
        _args("--epochs", "7", "--lr", "0.5", "--aux-weights", "0", "0.7", "--no-augment")
    )
    assert mine == plan_training(
        mini,
        "digits",
        Choices(epochs=7, lr=0.5, aux_weight1=0.0, aux_weight2=0.7, augment=False),
    )
    assert mine.config.input_size == 16  # --epochs no longer drops the recipe's side
    assert plan_from_args(_args("--input-size", "24")).config.input_size == 24
    assert plan_from_args(_args("--subset", "all", "--preset", "paper")).train_config.subset is None
    exported = tmp_path / "mini.json"
    exported.write_text(mini.to_json())
    assert plan_from_args(_args("--config", str(exported))) == plan_training(mini, "digits")
    with pytest.raises(ValueError, match="input_size 2 is too small"):
        plan_from_args(_args("--input-size", "2"))
    with pytest.raises(ValueError, match="--dataset or --data"):
        plan_from_args(_args("--dataset", "digits", "--data", "x"))
    with pytest.raises(SystemExit):
        _args("--subset", "many")


def test_train_writes_a_run_folder(tmp_path, tiny_json, capsys) -> None:
    code = main(
        ["train", "--config", str(tiny_json), "--epochs", "1", "--subset", "32",
         "--batch-size", "16", "--aux-weights", "0.5", "0", "--out", str(tmp_path / "runs")]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("completed: 1 epoch(s)")
    assert "aux1 w=0.5, aux2 not in the loss" in captured.err  # the progress output
    (run,) = list_runs(tmp_path / "runs")
    assert run.status == "completed" and run.aux_weight1 == 0.5 and run.has_checkpoint
    assert str(run.path) in captured.out


def test_divergence_exits_non_zero(tmp_path, tiny_json, capsys) -> None:
    code = main(
        ["train", "--config", str(tiny_json), "--epochs", "1", "--subset", "64",
         "--batch-size", "16", "--lr", "1e6", "--optimizer", "sgd", "--schedule", "constant",
         "--out", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert code == 3
    assert capsys.readouterr().out.startswith("diverged: the loss became")
    assert list_runs(tmp_path)[0].status == "diverged"


def test_bad_input_is_a_sentence_and_exit_code_2(tmp_path, capsys) -> None:
    assert main(["train", "--preset", "mini", "--batch-size", "1", "--out", str(tmp_path)]) == 2
    assert "batch size 1 cannot train a network with BatchNorm" in capsys.readouterr().err
    assert main(["train", "--preset", "mini", "--lr", "-1", "--out", str(tmp_path)]) == 2
    assert "training: lr must be between" in capsys.readouterr().err
    assert list_runs(tmp_path) == []  # refused before any folder was made


def test_a_missing_folder_is_refused_before_a_run_is_made(tmp_path, tiny_json, capsys) -> None:
    code = main(["train", "--config", str(tiny_json), "--data", str(tmp_path / "nope"),
                 "--epochs", "1", "--out", str(tmp_path / "runs"), "--quiet"])  # fmt: skip
    assert code == 2
    assert "nope is not a folder" in capsys.readouterr().err
    assert list_runs(tmp_path / "runs") == []


def _digit_pngs(root: Path, count: int = 30) -> Path:
    images, labels = load_digits()
    for i in range(count):
        folder = root / str(labels[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i:04d}.png")
    (root / str(labels[0]) / "readme.txt").write_text("not an image")
    return root


def test_train_on_a_folder_then_evaluate_it(tmp_path, tiny_json, capsys) -> None:
    data = _digit_pngs(tmp_path / "pngs")
    code = main(["train", "--config", str(tiny_json), "--data", str(data), "--epochs", "1",
                 "--batch-size", "8", "--out", str(tmp_path / "runs"), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr()
    capsys.readouterr()
    (run,) = list_runs(tmp_path / "runs")
    assert main(["evaluate", "--checkpoint", str(run.path / "best.pt"), "--data", str(data)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 30 and 0.0 <= report["accuracy"] <= 1.0
    assert {"accuracy_aux1", "accuracy_aux2"} <= set(report)
    assert report["skipped"] == {"not an image": 1}
    assert set(report["per_class"]) <= {str(d) for d in range(10)}


def test_evaluate_refuses_unknown_classes_and_bad_files(tmp_path, tiny_json, capsys) -> None:
    main(["train", "--config", str(tiny_json), "--epochs", "1", "--subset", "16",
          "--batch-size", "8", "--out", str(tmp_path / "runs"), "--quiet"])  # fmt: skip
    (run,) = list_runs(tmp_path / "runs")
    data = _digit_pngs(tmp_path / "pngs", count=12)
    (data / "cat").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(data / "cat" / "x.png")
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run.path / "best.pt"), "--data", str(data)]) == 2
    assert "'cat' are not among the checkpoint's classes" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--checkpoint", str(junk), "--data", str(data)]) == 2
    assert "not a readable PyTorch file" in capsys.readouterr().err


def test_every_run_folder_agrees_with_its_checkpoints(tmp_path, capsys) -> None:
    """model_config.json is the network the checkpoints hold, outputs and side included."""
    five = tmp_path / "five.json"
    five.write_text(tiny_config(num_classes=5).to_json())  # 5 outputs, 10 digit classes
    data = _digit_pngs(tmp_path / "pngs", count=30)  # a folder of 10 classes
    runs = tmp_path / "runs"
    for argv in (
        ["--config", str(five), "--epochs", "1", "--subset", "32", "--batch-size", "16"],
        ["--config", str(five), "--data", str(data), "--epochs", "1", "--batch-size", "8"],
        ["--preset", "mini", "--epochs", "1", "--subset", "32", "--batch-size", "16"],
    ):
        assert main(["train", *argv, "--out", str(runs), "--quiet"]) == 0, capsys.readouterr()
    summaries = list_runs(runs)
    assert len(summaries) == 3
    for summary in summaries:
        run = open_run(summary.id, runs)
        for which in ("best", "last"):
            checkpoint = run.checkpoint(which)
            assert checkpoint is not None
            assert load_checkpoint(checkpoint).config == run.model_config(), (summary.id, which)
    networks = sorted(s.network for s in summaries)
    assert networks == ["custom", "custom", "mini-16px"]


def test_the_run_store_follows_the_setting_and_out_overrides_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLENET_RUNS_DIR", str(tmp_path / "store"))
    tiny = ["train", "--preset", "mini", "--subset", "16", "--epochs", "1", "--batch-size", "8"]
    assert main([*tiny, "--quiet"]) == 0
    assert [r.status for r in list_runs(tmp_path / "store")] == ["completed"]
    assert main([*tiny, "--quiet", "--out", str(tmp_path / "elsewhere")]) == 0
    assert len(list_runs(tmp_path / "elsewhere")) == 1 and len(list_runs(tmp_path / "store")) == 1


def test_a_digits_run_reads_photos_in_class_folders(tmp_path, tiny_json, capsys) -> None:
    """A folder laid out like a training set (one subfolder a class) of photos of digits on
    paper: ``predict`` walks its subfolders and reports what it read in each photo, and
    ``evaluate`` reads each photo's digit into 8x8 blocks as the checkpoint records."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from photo_render import digits_as_strokes, photograph

    code = main(["train", "--config", str(tiny_json), "--dataset", "digits", "--epochs", "1",
                 "--subset", "32", "--batch-size", "16", "--out", str(tmp_path / "runs"),
                 "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr()
    capsys.readouterr()
    (run,) = list_runs(tmp_path / "runs")
    checkpoint = str(run.path / "best.pt")
    assert load_checkpoint(checkpoint).preprocessing.kind == "digit-blocks"
    images, labels = load_digits()
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    for index in range(len(labels) - 12, len(labels)):
        folder = photos / str(labels[index])
        folder.mkdir(parents=True, exist_ok=True)
        ink = digits_as_strokes(images[index : index + 1])[0]
        photograph(ink, rng).save(folder / f"{index}.jpg")
    assert main(["predict", str(photos), "--checkpoint", checkpoint, "--top-k", "1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 12  # every photo in every class subfolder
    assert all("ink on light paper" in r["digit"]["found"] for r in records)
    assert all(len(r["digit"]["grid"]) == 8 for r in records)
    assert main(["evaluate", "--checkpoint", checkpoint, "--data", str(photos)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 12 and set(report["per_class"]) <= {str(d) for d in range(10)}


def test_the_quick_recipe_gives_the_same_run_whatever_the_hosts_threads(tmp_path) -> None:
    """Issue 24: the figure must not move with the host's cores. The quick recipe trains on
    one CPU thread (oneDNN splits its sums by thread), so a host giving a job 1 thread
    and one giving 2 train the very same weights. Real processes, as the CLI runs them."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    plan = plan_training(get_preset("mini"), "digits", device_type="cpu")
    assert plan.train_config.threads == 1 and "any host" in plan.reasons["threads"]
    assert (
        plan_training(get_preset("mini"), "digits", device_type="cuda").train_config.threads is None
    )
    chosen = plan_training(get_preset("mini"), "digits", Choices(threads=2), device_type="cpu")
    assert chosen.train_config.threads == 2  # an explicit --threads is the user's

    weights = []
    for threads in ("1", "2"):
        out = tmp_path / f"host-{threads}"
        env = {**os.environ, "GOOGLENET_THREADS": threads, "OMP_NUM_THREADS": threads}
        command = [sys.executable, "-m", "googlenet_core", "train", "--preset", "mini",
                   "--dataset", "digits", "--subset", "512", "--epochs", "1", "--device",
                   "cpu", "--out", str(out)]  # fmt: skip
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "1 CPU thread(s): one CPU thread" in done.stderr
        (run,) = list_runs(out)
        state = load_checkpoint(run.path / "best.pt").model.state_dict()
        weights.append(state)
    for key, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][key]), key
