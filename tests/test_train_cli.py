"""``python -m googlenet_core train`` and ``evaluate``: run folders, exit codes, JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_train import tiny_config

from googlenet_core.cli import build_parser, main
from googlenet_core.digits import load_digits
from googlenet_core.presets import get_preset
from googlenet_core.runs import list_runs
from googlenet_core.train import quick_recipe
from googlenet_core.train_cli import build_train_config, training_network

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture
def tiny_json(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(tiny_config().to_json())
    return path


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def test_no_epochs_means_the_quick_recipe_and_flags_win() -> None:
    config = build_train_config(_args("--preset", "mini"), "mini")
    recipe = quick_recipe("mini", "digits")
    assert config.epochs == recipe["epochs"] and config.lr == recipe["lr"]
    mine = build_train_config(
        _args("--epochs", "7", "--lr", "0.5", "--aux-weights", "0", "0.7", "--no-augment"), "mini"
    )
    assert (mine.epochs, mine.lr, mine.aux_weight1, mine.aux_weight2) == (7, 0.5, 0.0, 0.7)
    assert mine.augment is False
    assert build_train_config(_args("--augment"), "mini").augment is True
    with pytest.raises(ValueError, match="--dataset or --data"):
        build_train_config(_args("--dataset", "digits", "--data", "x"), None)


def test_the_recipe_trains_mini_on_digits_at_16_px_unless_told_otherwise(tmp_path) -> None:
    mini = get_preset("mini")

    def side(*argv: str, config=mini, dataset="digits") -> int:
        return training_network(config, _args(*argv), "mini", dataset).input_size

    assert side() == 16  # the quick recipe: the 8x8 digits need no more
    assert side(dataset="fashionmnist") == 32  # no recipe side: the network's own
    assert side("--epochs", "3") == 32  # no recipe at all
    assert side("--input-size", "24") == 24
    assert side("--epochs", "3", "--input-size", "20") == 20
    exported = tmp_path / "mini.json"
    exported.write_text(mini.to_json())
    assert side("--config", str(exported)) == 32  # an exported design keeps its side
    with pytest.raises(ValueError, match="input_size 2 is too small"):
        side("--input-size", "2")


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
    assert "lr must be a number" in capsys.readouterr().err
    assert list_runs(tmp_path) == []  # refused before any folder was made


def test_a_missing_folder_fails_the_run(tmp_path, tiny_json, capsys) -> None:
    code = main(["train", "--config", str(tiny_json), "--data", str(tmp_path / "nope"),
                 "--epochs", "1", "--out", str(tmp_path / "runs"), "--quiet"])  # fmt: skip
    assert code == 1
    assert "is not a folder" in capsys.readouterr().out


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
