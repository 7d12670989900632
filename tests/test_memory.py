"""The memory estimate: its arithmetic, and one real worker measured against it."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import pytest

from googlenet_core._host import MEMORY_ENV, Figure, resident_bytes
from googlenet_core.network.presets import get_preset
from googlenet_core.training.config import TrainConfig
from googlenet_core.training.jobs import JobRegistry, TooBig, submit_training
from googlenet_core.training.memory import (
    check_fit,
    job_budget,
    largest_batch,
    predict_memory,
    training_activations,
    upload_figures,
)
from googlenet_core.training.plan import Choices, TrainPlan, plan_training
from googlenet_core.training.worker import measured_peak


def paper(side: int = 112):
    return dataclasses.replace(get_preset("paper"), input_size=side, num_classes=10)


def test_components_add_up_to_the_total() -> None:
    estimate = predict_memory(paper(), TrainConfig(batch_size=16))
    parts = [estimate.process, estimate.parameters, estimate.gradients, estimate.optimizer]
    parts += [estimate.activations, estimate.data]
    assert all(part >= 0 for part in parts)
    assert sum(parts) == estimate.total
    assert estimate.sentence().startswith(f"about {estimate.total / 1e9:.1f} GB")
    assert "batch of 16 at 112 px" in estimate.sentence()


def test_activations_grow_linearly_with_the_batch() -> None:
    config = paper()
    one = training_activations(config, TrainConfig(batch_size=8))
    assert training_activations(config, TrainConfig(batch_size=64)) == pytest.approx(8 * one)
    # Past evaluation's fixed batch, the training step sets the estimate's activations.
    big = [predict_memory(config, TrainConfig(batch_size=b)).activations for b in (256, 512)]
    assert big[1] == pytest.approx(2 * big[0])


def test_activations_grow_about_quadratically_with_the_side() -> None:
    small = training_activations(paper(112), TrainConfig(batch_size=8))
    large = training_activations(paper(224), TrainConfig(batch_size=8))
    assert 3.5 < large / small < 4.5  # ceil-mode pools round small maps up


def test_adamw_keeps_twice_the_state_of_sgd_with_momentum() -> None:
    adamw = predict_memory(paper(), TrainConfig(optimizer="adamw"))
    sgd = predict_memory(paper(), TrainConfig(optimizer="sgd", momentum=0.9))
    plain = predict_memory(paper(), TrainConfig(optimizer="sgd", momentum=0.0))
    assert adamw.optimizer == 2 * sgd.optimizer == 2 * adamw.gradients
    assert plain.optimizer == 0


def test_weight_zero_aux_heads_are_frozen_and_not_run() -> None:
    on = predict_memory(paper(), TrainConfig(batch_size=512))
    off = predict_memory(paper(), TrainConfig(batch_size=512, aux_weight1=0, aux_weight2=0))
    assert off.parameters == on.parameters  # the heads are still built
    assert off.gradients < on.gradients
    assert off.activations < on.activations


def test_largest_batch_is_monotone_in_the_budget() -> None:
    config, recipe = paper(224), TrainConfig()
    budgets = [2**30 * gb for gb in (1, 1.5, 2, 3, 4, 8, 16, 64)]
    batches = [largest_batch(config, recipe, int(b)) or 0 for b in budgets]
    assert batches == sorted(batches)
    assert batches[-1] == 512 and any(0 < b < 512 for b in batches)
    assert largest_batch(config, recipe, 100 * 2**20) is None
    chosen = largest_batch(config, recipe, 8 * 2**30)
    assert chosen is not None
    fitted = dataclasses.replace(recipe, batch_size=chosen)
    assert predict_memory(config, fitted).total <= 8 * 2**30


def test_a_real_worker_peaks_near_the_prediction(tmp_path: Path) -> None:
    """One short run of mini on the digits (a few seconds), measured by its peak RSS."""
    choices = Choices(input_size=32, batch_size=32, subset=64, epochs=1, device="cpu")
    plan = plan_training(get_preset("mini"), "digits", choices)
    predicted = predict_memory(plan.config, plan.train_config).total
    measured = measured_peak(plan.config, plan.train_config, str(tmp_path))
    assert predicted / 1.6 <= measured <= 1.1 * predicted


def test_a_run_over_the_budget_is_refused_with_a_batch_that_fits() -> None:
    config = dataclasses.replace(get_preset("paper"), input_size=224)
    recipe = TrainConfig(batch_size=64)
    need = predict_memory(config, recipe).total
    assert check_fit(config, recipe, Figure(need, "test")).fits
    fits = predict_memory(config, dataclasses.replace(recipe, batch_size=8)).total
    fit = check_fit(config, recipe, Figure(fits, "a 2 GB test host"))
    assert not fit.fits and fit.smaller_batch == 8
    text = fit.refusal()
    assert text.startswith("this run needs about")
    assert "(a 2 GB test host)" in text and text.endswith("A batch of 8 fits")
    tiny = check_fit(config, recipe, Figure(2**20, "a tiny host"))
    assert tiny.smaller_batch is None and "No batch size fits" in tiny.refusal()


def test_the_job_budget_leaves_the_server_its_memory(monkeypatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "4096")
    one, two = job_budget(1), job_budget(2)
    assert 0 < one.value < 4096 * 2**20 - resident_bytes() and "for the server" in one.source
    assert abs(two.value - one.value // 2) <= 64 * 2**20 and "2 jobs at once" in two.source


def test_submit_refuses_a_job_too_big_before_its_run_folder_exists(tmp_path) -> None:
    plan = TrainPlan(get_preset("mini"), TrainConfig(batch_size=64))
    with pytest.raises(TooBig, match="A batch of|No batch size fits"):
        submit_training(
            JobRegistry(max_running=1), plan, owner="me", runs_dir=tmp_path,
            memory_budget=Figure(300 * 2**20, "a tiny test host"),
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_an_uploaded_zip_counts_its_images_and_its_own_bytes() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(40):
            archive.writestr(f"{'cat' if i % 2 else 'dog'}/{i}.png", b"\0" * 100)
    sizes = upload_figures(buffer.getvalue())
    assert sizes == (40, len(buffer.getvalue()))
    config, recipe = get_preset("mini"), TrainConfig(dataset="upload")
    bare = predict_memory(config, recipe)
    held = predict_memory(config, recipe, images=40, archive_bytes=10**6)
    assert held.data - bare.data == 40 * config.in_channels * 32 * 32 * 4 + 10**6
    assert upload_figures(b"not a zip") == (None, 9)
