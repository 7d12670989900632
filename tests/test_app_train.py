"""The Train page under AppTest: settings, a tiny background job, reattach, cancel, runs list."""

from __future__ import annotations

import dataclasses
import io
import re
import time
import zipfile
from typing import Any

import pytest
import torch
from conftest import app_test, new_server
from PIL import Image

from googlenet_core import get_preset
from googlenet_core.cli import build_parser
from googlenet_core.cli.train import plan_from_args
from googlenet_core.data.digits import load_digits
from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.network.editing import encode_token
from googlenet_core.service.access import (
    ACCESS_FILE,
    Access,
    class_id,
    new_secret,
    owner_id,
    read_access,
)
from googlenet_core.service.budgets import run_memory
from googlenet_core.service.host import MEMORY_ENV, resident_bytes
from googlenet_core.service.probes import process_baseline
from googlenet_core.training.compare import best_finished, differences
from googlenet_core.training.config import TrainConfig
from googlenet_core.training.events import start_of
from googlenet_core.training.plan import Choices, plan_training
from googlenet_core.training.runs import Run, list_runs, open_run
from googlenet_core.training.train import train
from pages.common.recipe import key_for

PAGE = "pages/train.py"
WAIT_S = 120.0


@pytest.fixture(autouse=True)
def run_store(monkeypatch, tmp_path):
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path / "runs"))
    return tmp_path / "runs"


def _tiny_settings(at: Any, subset: int = 16, epochs: int = 1, batch: int = 8) -> Any:
    at.toggle(key=_key(at, "train_use_subset")).set_value(True).run()
    at.number_input(key=_key(at, "train_subset")).set_value(subset).run()
    at.slider(key=_key(at, "train_epochs")).set_value(epochs).run()
    at.select_slider(key=_key(at, "train_batch")).set_value(batch).run()
    return at


def _wait_until(at: Any, done, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        at.run()  # AppTest does not poll fragments by itself: rerun as the browser would
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(1.0)
    raise AssertionError("the page did not reach the expected state in time")


def _finished(run_store: Any, count: int):
    """``count`` completed runs whose jobs the page also sees as done (no Cancel button):
    the child process writes its status a moment before the server reads its last event."""

    def done(at: Any) -> bool:
        cancels = [b for b in at.button if (b.key or "").startswith("train_cancel_")]
        return not cancels and [r.status for r in list_runs(run_store)] == ["completed"] * count

    return done


def _text(at: Any) -> str:
    main = at.main
    parts = [m.value for m in main.markdown] + [c.value for c in main.caption]
    parts += [s.value for s in main.success] + [i.value for i in main.info]
    return "\n".join(parts)


def test_an_empty_session_shows_the_settings_formula_and_estimate(run_store) -> None:
    at = app_test(PAGE, preset="mini").run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert at.slider(key=_key(at, "train_w1")).value == 0.3
    assert at.slider(key=_key(at, "train_w2")).value == 0.3
    assert r"0.3\,\mathcal{L}_\mathrm{aux1}" in at.latex[0].value
    assert "Estimated time: **about" in _text(at)
    # The thread choice is shown, with where it came from.
    assert re.search(r"in their own process with \d+ CPU thread\(s\) \(.+\)", _text(at))
    assert "No runs you can see yet" in _text(at)
    at.slider(key=_key(at, "train_w1")).set_value(0.0).run()
    assert r"0\,\mathcal{L}_\mathrm{aux1}" in at.latex[0].value
    assert "aux1 has weight 0: its loss is not computed" in _text(at)
    assert "accuracy is still measured" in _text(at)


def test_a_cpu_host_proposes_the_mini_preset() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU host does not need the nudge")
    at = app_test(PAGE, preset="paper").run()
    assert "This machine has no GPU" in at.warning[0].value
    assert at.toggle(key=_key(at, "train_use_subset")).value is True  # a small subset is proposed
    at.button(key="train_use_mini").click().run()
    assert not at.exception
    assert "`mini`" in at.main.markdown[0].value and not at.warning


def _widget_values(at: Any) -> dict[str, Any]:
    return {
        "subset": at.toggle(key=_key(at, "train_use_subset")).value,
        "side": _side(at).value,
        "epochs": at.slider(key=_key(at, "train_epochs")).value,
        "batch": at.select_slider(key=_key(at, "train_batch")).value,
        "lr": at.number_input(key=_key(at, "train_lr")).value,
        "augment": at.toggle(key=_key(at, "train_augment")).value,
    }


def test_use_the_mini_preset_then_start_trains_the_planners_recipe(run_store) -> None:
    """The 7.81% run: the paper's 256-image, 3-epoch widgets used to survive the switch."""
    if torch.cuda.is_available():
        pytest.skip("the nudge is for a CPU host")
    at = app_test(PAGE, preset="paper").run()
    at.slider(key=_key(at, "train_epochs")).set_value(3).run()  # a student's own touch, too
    at.button(key="train_use_mini").click().run()
    assert _widget_values(at) == _widget_values(app_test(PAGE, preset="mini").run())
    at.button(key="train_start").click().run()
    at = _wait_until(at, lambda a: bool(a.main.success) or bool(a.main.error))
    assert at.main.success, [e.value for e in at.main.error]
    (run,) = list_runs(run_store)
    planned = plan_training(get_preset("mini"), "digits", device_type="cpu")
    stored = open_run(run.id, run_store)
    assert stored.train_config() == planned.train_config
    assert stored.model_config() == planned.config
    assert run.best_val_acc is not None and run.best_val_acc > 0.9, run.best_val_acc


def test_an_edited_mini_gets_minis_recipe_and_the_widgets_follow_the_network() -> None:
    mini = get_preset("mini")
    wider = dataclasses.replace(mini.blocks[0], ch3x3=mini.blocks[0].ch3x3 + 8)
    edited = dataclasses.replace(mini, blocks=(wider, *mini.blocks[1:]))
    at = app_test(PAGE, net=encode_token(edited)).run()
    assert not at.exception
    assert _widget_values(at) == _widget_values(app_test(PAGE, preset="mini").run())
    assert "a variant of mini" in _text(at)
    assert at.toggle(key=_key(at, "train_use_subset")).value is False  # every image
    # Another data set, then back: every widget starts at the plan's value again.
    at.slider(key=_key(at, "train_epochs")).set_value(9).run()
    at.selectbox(key="train_dataset").set_value("fashionmnist").run()
    assert at.slider(key=_key(at, "train_epochs")).value == 3 and _side(at).value == 32
    at.selectbox(key="train_dataset").set_value("digits").run()
    digits = plan_training(mini, "digits", Choices(device="cpu")).train_config
    assert at.slider(key=_key(at, "train_epochs")).value == digits.epochs and _side(at).value == 16


def test_the_paper_network_gets_a_recipe_that_leaves_chance() -> None:
    at = app_test(PAGE, preset="paper").run()
    assert (_side(at).value, at.number_input(key=_key(at, "train_lr")).value) == (79, 0.001)
    text = _text(at)
    assert "Proposed: 79 px: the smallest side this network accepts" in text
    assert "as 0.003 (the rate for batch-norm networks) leaves it at chance" in text
    assert "of 3,058 images" in text
    # One time figure, the estimate measured here: the plan's reasons promise none.
    assert text.count("Estimated time") == 1 and not re.search(r"train in about|per epoch", text)


def test_settings_that_cannot_train_are_refused_before_starting() -> None:
    at = app_test(PAGE, preset="mini").run()
    at.select_slider(key=_key(at, "train_batch")).set_value(2).run()
    assert not at.error and not at.button(key="train_start").disabled
    at.select_slider(key=_key(at, "train_batch")).set_value(4).run()
    # Allowed: divergence is a lesson.
    at.number_input(key=_key(at, "train_lr")).set_value(1e6).run()
    assert not at.error
    at.selectbox(key="train_dataset").set_value("upload").run()
    assert at.button(key="train_start").disabled  # no zip yet


def _key(at: Any, name: str) -> str:
    """A recipe widget's key: its name and the generation of the current proposal."""
    return key_for(name, at.session_state)


def _side(at: Any) -> Any:
    return next(n for n in at.number_input if n.label == "Input side (px)")


def test_mini_trains_the_digits_at_16_px_and_other_data_at_its_own() -> None:
    at = app_test(PAGE, preset="mini").run()
    assert _side(at).value == 16
    assert "Proposed: 16 px: the digits are 8x8 images" in _text(at)
    at.selectbox(key="train_dataset").set_value("fashionmnist").run()
    assert _side(at).value == 32 and "Proposed: 16 px" not in _text(at)
    at.selectbox(key="train_dataset").set_value("digits").run()
    assert _side(at).value == 16
    _side(at).set_value(24).run()
    assert not at.exception and not at.error
    assert not at.button(key="train_start").disabled
    assert "for a batch of 64 at 24 px" in _text(at)  # the plan's memory, at the new side


def test_a_tiny_run_trains_in_the_background_and_lands_in_the_runs_list(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run())
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "jobs" not in at.query_params  # the link holds the design and nothing of the job
    # 16 images for one epoch: completed, and said to be at chance (a warning) or better.
    at = _wait_until(at, lambda a: bool(a.main.success or a.main.warning))
    ended = (at.main.success or at.main.warning)[0].value
    assert "best validation accuracy" in ended
    assert len(at.get("plotly_chart")) >= 4  # live curves and the overlay of the runs list
    (run,) = list_runs(run_store)
    assert run.status == "completed" and run.has_checkpoint
    assert run.network == "mini-16px"  # trained at the recipe's side, and it says so
    stored = open_run(run.id, run_store)
    assert stored.model_config().input_size == 16
    assert load_checkpoint(stored.path / "best.pt").config == stored.model_config()
    assert at.multiselect(key="train_compare").value == [run.id]
    # Checkpoint, metrics, plain PyTorch code + weights, safetensors (built when clicked).
    labels = [at.download_button(key=f"train_download_{k}").proto.label for k in
              ("checkpoint", "metrics", "code", "safetensors")]  # fmt: skip
    assert labels[2] == "Plain PyTorch code + weights (.zip)", labels
    # A browser refresh: a new session with the same browser's secret finds the same job.
    again = _same_browser(at).run()
    assert not again.exception
    assert run.id in _text(again) and (again.main.success or again.main.warning)


def _same_browser(at: Any, **query: str) -> Any:
    """A new session of the browser ``at`` ran in (a refresh, another tab): same secret."""
    return _browser(at.session_state["owner_secret"], **query)


def _browser(secret: str, **query: str) -> Any:
    """A session of the browser holding ``secret``.

    In a browser the secret comes from its cookie; AppTest cannot send cookies, so it
    is handed over in Session State, where the page keeps it once read.
    """
    at = app_test(PAGE, **(query or {"preset": "mini"}))
    at.session_state["owner_secret"] = secret
    return at


def test_only_the_starting_browser_sees_and_cancels_a_private_run(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run(), subset=512, epochs=5)
    at.button(key="train_start").click().run()
    (run,) = list_runs(run_store)
    # Another student opening the same design link: no Cancel, and not even the run.
    stranger = app_test(PAGE, **dict(at.query_params)).run()
    assert not [b for b in stranger.button if b.key == f"train_cancel_{run.id}"]
    assert run.id not in _text(stranger) and "No runs you can see yet" in _text(stranger)
    assert "private to this browser" in _text(stranger)  # the page says who sees what
    reloaded = _same_browser(at).run()
    reloaded.button(key=f"train_cancel_{run.id}").click().run()
    reloaded = _wait_until(reloaded, lambda a: "cancelled" in _text(a))
    assert list_runs(run_store)[0].status == "cancelled"


def test_an_old_links_jobs_parameter_gives_no_rights_and_is_dropped() -> None:
    at = app_test(PAGE, preset="mini", jobs="an-old-token").run()
    assert not at.exception and "jobs" not in at.query_params
    assert at.query_params["preset"] == "mini"


def _zip_of_digits(extra: dict[str, bytes] | None = None) -> bytes:
    images, labels = load_digits()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(40):
            if labels[i] in (0, 1):
                png = io.BytesIO()
                Image.fromarray(images[i]).save(png, format="PNG")
                zf.writestr(f"digits/{labels[i]}/{i:03d}.png", png.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_an_uploaded_zip_trains_and_a_bad_one_is_refused_with_the_reason(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run(), subset=64, batch=4)
    at.toggle(key=_key(at, "train_use_subset")).set_value(False).run()
    at.selectbox(key="train_dataset").set_value("upload").run()
    assert at.button(key="train_start").disabled  # no zip yet
    at.file_uploader(key="train_zip").set_value(
        ("zeros-and-ones.zip", _zip_of_digits(), "application/zip")
    )
    at.run()
    # Planned before anything runs: the zip's listing names its classes.
    assert "outputs are set to the 2 classes of the uploaded zip" in _text(at)
    at.button(key="train_start").click().run()
    at = _wait_until(at, lambda a: bool(a.main.success or a.main.warning or a.main.error))
    assert not at.main.error, [e.value for e in at.main.error]
    (run,) = list_runs(run_store)
    stored = open_run(run.id, run_store)
    config = stored.train_config()
    assert (config.dataset, config.data_path) == ("upload", "zeros-and-ones.zip")
    start = start_of(stored.events())
    assert start is not None and start.classes == ("0", "1")
    assert stored.model_config().num_classes == 2
    assert load_checkpoint(stored.path / "best.pt").config == stored.model_config()
    bad = _zip_of_digits({"../../escape.png": b"x"})
    at.file_uploader(key="train_zip").set_value(("bad.zip", bad, "application/zip"))
    at.run()
    assert any("points outside the archive" in e.value for e in at.main.error)
    assert at.button(key="train_start").disabled and len(list_runs(run_store)) == 1


@pytest.mark.parametrize(
    ("query", "widgets", "argv"),
    [
        ({"preset": "mini"}, {}, ["--preset", "mini"]),
        ({"preset": "mini"}, {"train_epochs": 3}, ["--preset", "mini", "--epochs", "3"]),
        (
            {"preset": "mini"},
            {"train_w1": 0.0, "train_w2": 0.0, "train_batch": 32},
            ["--preset", "mini", "--aux-weights", "0", "0", "--batch-size", "32"],
        ),
        ({"preset": "paper"}, {}, ["--preset", "paper"]),
        (
            {"preset": "torchvision"},
            {"train_dataset": "cifar10"},
            ["--preset", "torchvision", "--dataset", "cifar10"],
        ),
    ],
    ids=["mini", "mini-epochs", "mini-aux-off", "paper", "torchvision-cifar10"],
)
def test_the_page_and_the_cli_plan_the_same_run(query, widgets, argv, run_store) -> None:
    """Same network, data and choices: the same network and TrainConfig, from either door."""
    at = app_test(PAGE, **query).run()
    for key, value in widgets.items():
        wanted = key if key == "train_dataset" else _key(at, key)
        widget = next(w for w in at.main.get(_kind(key)) if w.key == wanted)
        widget.set_value(value).run()
    assert not at.exception and not at.main.error
    at.button(key="train_start").click().run()  # what the page submits: its run folder
    (submitted,) = list_runs(run_store)
    run = open_run(submitted.id, run_store)
    at.button(key=f"train_cancel_{run.id}").click().run()  # the folder is all this needs
    cli = plan_from_args(build_parser().parse_args(["train", *argv]))
    assert "custom" not in run.id  # named after its network and what the plan changed
    assert run.model_config() == cli.config
    assert run.train_config() == cli.train_config


def _kind(key: str) -> str:
    return {
        "train_epochs": "slider",
        "train_w1": "slider",
        "train_w2": "slider",
        "train_batch": "select_slider",
        "train_dataset": "selectbox",
    }[key]


def test_the_ab_button_queues_two_fair_runs_and_the_overlay_shows_their_ratio(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run(), subset=256, epochs=1, batch=32)
    assert at.button(key="train_ab").label.startswith("Compare: w 0.3/0.3 vs 0/0")
    at.button(key="train_ab").click().run()
    assert not at.exception
    assert "jobs" not in at.query_params
    assert len([b for b in at.button if b.key.startswith("train_cancel_")]) == 2
    at = _wait_until(at, _finished(run_store, 2))
    at.run()
    runs = list_runs(run_store)
    assert len(runs) == 2 and all(r.status == "completed" for r in runs)
    by_weight = sorted(runs, key=lambda r: -(r.aux_weight1 or 0.0))
    first, second = (open_run(r.id, run_store) for r in by_weight)
    config_a, config_b = first.train_config(), second.train_config()
    assert (config_a.aux_weights, config_b.aux_weights) == ((0.3, 0.3), (0.0, 0.0))
    assert dataclasses.replace(config_a, aux_weight1=0.0, aux_weight2=0.0) == config_b
    start_a, start_b = start_of(first.events()), start_of(second.events())
    assert start_a is not None and start_b is not None
    assert start_a.init_fingerprint == start_b.init_fingerprint  # the same initial weights
    assert first.model_config() == second.model_config()
    # Both joined the overlay; it says the comparison is fair and opens on the ratio.
    assert set(at.multiselect(key="train_compare").value) == {r.id for r in runs}
    assert any("A fair comparison" in i.value for i in at.main.info)
    text = _text(at)
    assert "receives" in text and ("more gradient" in text or "less gradient" in text)
    assert "with the aux heads in the loss in epoch 1" in text
    # A third run with another recipe joins the overlay, which then says what differs.
    at.slider(key=_key(at, "train_epochs")).set_value(2).run()
    at.button(key="train_start").click().run()
    at = _wait_until(at, _finished(run_store, 3))
    at.run()
    newest = list_runs(run_store)[0]
    assert newest.id in at.multiselect(key="train_compare").value
    # The download offers the most accurate finished run, not merely the newest.
    assert at.selectbox(key="train_download_run").value == best_finished(list_runs(run_store))
    unfair = [w.value for w in at.main.warning if "Not a fair comparison" in w.value]
    assert unfair and "epochs" in unfair[0]
    # A second A/B replaces the overlay with its own pair: the older runs would make it unfair.
    at.button(key="train_ab").click().run()
    pair = {r.id for r in list_runs(run_store)[:2]}
    assert set(at.multiselect(key="train_compare").value) == pair
    at = _wait_until(at, _finished(run_store, 5))
    at.run()
    assert set(at.multiselect(key="train_compare").value) == pair
    assert any("A fair comparison" in i.value for i in at.main.info)
    warned = [w.value for w in at.main.warning if "Not a fair comparison" in w.value]
    assert not warned, warned


def _owned_run(root: Any, secret: str, shared: str = "private", code: str = "") -> Any:
    """A finished run started by the browser holding ``secret`` (as the page writes it)."""
    access = Access(owner_id(secret), shared, class_id(code) if code else None)  # type: ignore[arg-type]
    run = Run.create(
        get_preset("mini"),
        TrainConfig(),
        root,
        status="queued",
        files={ACCESS_FILE: access.to_json()},
    )
    run.set_status("completed", "done")
    return run


def _listed(at: Any) -> list[str]:
    """The run ids in the page's runs table (none when there is no table)."""
    tables = [t.value for t in at.dataframe if "seen by" in t.value.columns]
    return tables[0]["id"].tolist() if tables else []


def test_an_owner_publishes_shares_with_a_class_and_deletes_a_run(run_store) -> None:
    alice, bob = new_secret(), new_secret()
    run = _owned_run(run_store, alice)
    as_bob = _browser(bob).run()
    assert run.id not in _listed(as_bob)
    as_alice = _browser(alice).run()
    assert "only you (you)" in as_alice.dataframe[0].value["seen by"].tolist()
    # Publish: Bob sees it, read-only (no sharing or delete controls for him).
    as_alice.segmented_control(key=f"train_share_{run.id}").set_value("public").run()
    assert read_access(run.path).shared == "public"
    as_bob.run()
    assert run.id in _listed(as_bob)
    assert not [b for b in as_bob.button if b.key == f"train_delete_{run.id}"]
    assert not [w for w in as_bob.segmented_control if w.key == f"train_share_{run.id}"]
    # A class: Alice joins CNN-101 and shares with it; Bob sees it only once he joins too.
    as_alice.segmented_control(key=f"train_share_{run.id}").set_value("private").run()
    as_alice.text_input(key="train_class_code").set_value("CNN-101").run()
    as_alice.segmented_control(key=f"train_share_{run.id}").set_value("class").run()
    assert read_access(run.path).class_id == class_id("cnn-101")
    as_bob.run()
    assert run.id not in _listed(as_bob)
    as_bob.text_input(key="train_class_code").set_value(" cnn-101 ").run()
    assert run.id in _listed(as_bob) and "class: `cnn-101`" in as_bob.expander[0].label
    # Delete: gone from the store and from both lists.
    as_alice.button(key=f"train_delete_{run.id}").click().run()
    assert not as_alice.exception and not run.path.exists()
    assert run.id not in _listed(as_bob.run())


def test_a_browser_at_its_queue_cap_is_told_and_nothing_is_queued(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run(), subset=512, epochs=5)
    assert "each browser may have 3 waiting or running" in _text(at)
    at.button(key="train_start").click().run()
    at.button(key="train_ab").click().run()  # three: the server's default cap per browser
    assert len(list_runs(run_store)) == 3 and not at.error
    at.button(key="train_start").click().run()
    assert any("at most 3 per browser" in e.value for e in at.error), at.error
    assert len(list_runs(run_store)) == 3  # refused before any run folder was made
    for run in list_runs(run_store):
        at.button(key=f"train_cancel_{run.id}").click().run()
    _wait_until(at, lambda a: all(r.status == "cancelled" for r in list_runs(run_store)))


def test_a_run_too_big_for_the_server_is_refused_before_anything_is_allocated(
    run_store, monkeypatch
) -> None:
    """The paper network at 224 px, batch 64, on a host with ~1.4 GB for a job: refused
    from the analysis, with the largest batch that fits one click away."""
    paper = dataclasses.replace(get_preset("paper"), input_size=224)
    at = app_test(PAGE, net=encode_token(paper)).run()
    at.toggle(key=_key(at, "train_use_subset")).set_value(True).run()
    _side(at).set_value(224).run()
    # This process is the server: the host's limit is set so a job may take a little more
    # than batch 16 needs (the budget is the limit less the server's memory).
    baseline = process_baseline().value  # measured on this host, as the server measures it
    assert baseline is not None
    budget = run_memory(paper, TrainConfig(batch_size=16), process=baseline).total + 150 * 2**20
    monkeypatch.setenv(MEMORY_ENV, str((resident_bytes() + 128 * 2**20 + budget) // 2**20))
    at.select_slider(key=_key(at, "train_batch")).set_value(64).run()
    (error,) = [e.value for e in at.error]
    assert "Too large for this server" in error and "for a batch of 64 at 224 px" in error
    assert at.button(key="train_start").disabled and at.button(key="train_ab").disabled
    fit = at.button(key="train_fit_batch")
    batch = int(re.fullmatch(r"Use batch (\d+)", fit.label).group(1))
    assert 16 <= batch <= 32
    fit.click().run()
    assert at.select_slider(key=_key(at, "train_batch")).value == batch
    assert not at.error and not at.button(key="train_start").disabled
    assert re.search(r"Memory: about [\d.]+ GB: .* a job may take [\d.]+ GB here", _text(at))
    assert list_runs(run_store) == []


def test_a_run_starts_from_a_finished_run_of_the_same_design(run_store) -> None:
    """The Start-from picker offers the runs whose trunk the design shares; on a CPU the
    plan freezes the trunk, and the run trains its heads on the weights it was given."""
    first = plan_training(get_preset("mini"), "digits", Choices(epochs=1, subset=64))
    done = train(
        first.config,
        first.train_config,
        run=Run.create(first.config, first.train_config, run_store),
    )
    assert done.status == "completed", done.message
    (source,) = list_runs(run_store)
    at = app_test(PAGE, preset="mini").run()
    assert at.selectbox(key="train_init").value == "scratch"
    at.selectbox(key="train_init").set_value(source.id).run()
    assert not at.exception
    (freeze,) = [s for s in at.selectbox if (s.key or "").startswith("train_freeze_")]
    expected = "none" if torch.cuda.is_available() else "trunk"
    assert freeze.value == expected
    if expected == "trunk":  # augmentation would cost the features computed once: said
        at.toggle(key=_key(at, "train_augment")).set_value(True).run()
        assert "Augmentation makes the frozen stages run on every step" in _text(at)
        at.toggle(key=_key(at, "train_augment")).set_value(False).run()
    _tiny_settings(at)
    at.button(key="train_start").click().run()
    at = _wait_until(at, _finished(run_store, 2))
    started = [r for r in list_runs(run_store) if r.id != source.id][0]
    recipe = open_run(started.id, run_store).train_config()
    assert (recipe.init, recipe.freeze) == (str(source.path), expected)
    notes = [e.message for e in open_run(started.id, run_store).events() if e.kind == "note"]
    assert any(n.startswith("Started from") for n in notes), notes


def test_a_start_is_compared_with_scratch_in_one_click(run_store) -> None:
    """Two runs, the same but for where the weights start: the overlay calls it fair."""
    first = plan_training(get_preset("mini"), "digits", Choices(epochs=1, subset=64))
    run = Run.create(first.config, first.train_config, run_store)
    assert train(first.config, first.train_config, run=run).status == "completed"
    at = app_test(PAGE, preset="mini").run()
    at.selectbox(key="train_init").set_value(run.id).run()
    _tiny_settings(at)
    at.button(key="train_vs_scratch").click().run()
    at = _wait_until(at, _finished(run_store, 3))
    pair = [r for r in list_runs(run_store) if r.id != run.id]
    recipes = {open_run(r.id, run_store).train_config().init for r in pair}
    assert recipes == {str(run.path), None}
    found = differences({r.id: open_run(r.id, run_store).events() for r in pair})
    assert {d.setting for d in found} >= {"starting weights", "initial weights"}
    assert all(d.expected for d in found), [d for d in found if not d.expected]
    assert not [w for w in at.main.warning if "Not a fair comparison" in w.value]
