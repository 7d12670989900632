"""The one planner: what a run will train and why, for the CLI and the Train page alike."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest
from tiny import tiny_config

from googlenet_core import GoogLeNetConfig, get_preset
from googlenet_core.training.plan import (
    NO_BN_RECIPE,
    QUICK_RECIPES,
    SUBSET_STEP,
    Choices,
    TrainPlan,
    heaviness,
    plan_training,
)


def test_mini_on_the_digits_gets_the_quick_recipe_at_16_px() -> None:
    plan = plan_training(get_preset("mini"), "digits", device_type="cpu")
    config = plan.train_config
    recipe = QUICK_RECIPES[("mini", "digits")]
    assert {k: getattr(config, k) for k in recipe} == recipe
    assert plan.config == dataclasses.replace(get_preset("mini"), input_size=16)
    assert plan.reasons["input_size"].startswith("16 px: the digits are 8x8 images")
    assert "quick recipe for mini on the digits" in plan.reasons["epochs"]
    assert plan.reasons["aux_weight1"].startswith("0.3, as in the paper")
    assert config.subset is None and plan.heavy is None and plan.notes == ()


def test_each_choice_overrides_one_value_and_the_rest_stays_planned() -> None:
    mini = get_preset("mini")
    choices = Choices(epochs=7, lr=0.5, aux_weight1=0.0, aux_weight2=0.7, augment=True)
    plan = plan_training(mini, "digits", choices, device_type="cpu")
    config = plan.train_config
    assert (config.epochs, config.lr, config.aux_weights, config.augment) == (
        7,
        0.5,
        (0.0, 0.7),
        True,
    )
    assert config.batch_size == 64 and plan.config.input_size == 16  # still the recipe's
    assert "epochs" not in plan.reasons and "lr" not in plan.reasons  # chosen, not planned
    # The bug this planner fixes: choosing the epochs no longer drops the recipe's side.
    assert plan_training(mini, "digits", Choices(epochs=3)).config.input_size == 16


def test_the_input_side_is_a_choice_and_a_bad_one_is_refused() -> None:
    mini = get_preset("mini")
    assert plan_training(mini, "digits", Choices(input_size=24)).config.input_size == 24
    assert "input_size" not in plan_training(mini, "digits", Choices(input_size=24)).reasons
    assert plan_training(mini, "fashionmnist", device_type="cpu").config.input_size == 32
    with pytest.raises(ValueError, match="input_size 2 is too small"):
        plan_training(mini, "digits", Choices(input_size=2))


def test_a_design_is_planned_by_what_it_is_not_by_where_it_came_from() -> None:
    exported = get_preset("mini").to_json()  # a file from the Architect page
    from googlenet_core import GoogLeNetConfig

    assert plan_training(GoogLeNetConfig.from_json(exported), "digits") == plan_training(
        get_preset("mini"), "digits"
    )


def test_a_cpu_gets_a_subset_where_the_full_run_would_take_far_longer() -> None:
    paper = get_preset("paper")
    assert heaviness(paper) > 4
    heavy = plan_training(paper, "digits", device_type="cpu")
    subset = heavy.train_config.subset
    assert subset is not None and subset % SUBSET_STEP == 0 and 256 <= subset < 3058
    assert heavy.heavy == pytest.approx(heaviness(heavy.config))
    assert "of 3,058 images" in heavy.reasons["subset"] and "on a CPU" in heavy.reasons["subset"]
    gpu = plan_training(paper, "digits", device_type="cuda")
    assert gpu.train_config.subset is None and gpu.heavy is None
    fashion = plan_training(get_preset("mini"), "fashionmnist", device_type="cpu")
    assert fashion.train_config.subset is not None and fashion.train_config.subset < 60_000
    mini = plan_training(get_preset("mini"), "digits", device_type="cpu")
    assert mini.train_config.subset is None and mini.reasons["subset"].startswith("every image")
    assert plan_training(paper, "digits", Choices(subset="all")).train_config.subset is None
    assert plan_training(paper, "digits", Choices(subset=100)).train_config.subset == 100


def _edited_mini() -> list[GoogLeNetConfig]:
    mini = get_preset("mini")
    first = dataclasses.replace(mini.blocks[0], ch3x3=mini.blocks[0].ch3x3 + 8)
    return [
        dataclasses.replace(mini, blocks=(first, *mini.blocks[1:])),
        dataclasses.replace(mini, aux_logits=False),
        dataclasses.replace(mini, input_size=48),
    ]


@pytest.mark.parametrize("variant", range(3), ids=["one cell wider", "no aux heads", "48 px"])
def test_an_edited_mini_trains_with_minis_recipe_at_16_px(variant: int) -> None:
    config = _edited_mini()[variant]
    plan = plan_training(config, "digits", device_type="cpu")
    recipe = QUICK_RECIPES[("mini", "digits")]
    assert {k: getattr(plan.train_config, k) for k in recipe} == recipe
    assert plan.config.input_size == 16 and plan.train_config.subset is None and plan.heavy is None
    assert plan.reasons["epochs"].startswith("the quick recipe for mini on the digits")


def test_a_network_without_batch_norm_gets_a_rate_it_can_learn_at() -> None:
    paper = get_preset("paper")
    assert not paper.batch_norm
    plan = plan_training(paper, "digits", device_type="cpu")
    recipe = {**NO_BN_RECIPE, "augment": False}
    assert {k: getattr(plan.train_config, k) for k in recipe} == recipe
    assert "leaves it at chance" in plan.reasons["lr"]
    # The paper's aux pools are 5x5/3: 79 px is the smallest side it takes.
    assert plan.config.input_size == 79 and plan.reasons["input_size"].startswith(
        "79 px: the smallest side this network accepts"
    )


def test_every_reason_is_one_line() -> None:
    for config in [get_preset("paper"), get_preset("torchvision"), *_edited_mini()]:
        for dataset in ("digits", "fashionmnist", "cifar10"):
            plan = plan_training(config, dataset, device_type="cpu")
            assert all("\n" not in why and len(why) < 240 for why in plan.reasons.values())


def test_the_outputs_are_the_data_sets_classes_before_anything_is_written() -> None:
    plan = plan_training(get_preset("paper"), "digits", device_type="cpu")
    assert plan.config.num_classes == 10
    assert plan.notes == ("the network's 1,000 outputs are set to the 10 classes of the digits",)
    assert plan_training(tiny_config(num_classes=10), "digits").notes == ()


def test_a_folder_or_zip_is_listed_for_its_classes(tmp_path) -> None:
    for name in ("cat", "dog", "owl"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.png").write_bytes(b"listed, not decoded")
    (tmp_path / "empty").mkdir()  # no file: not a class
    plan = plan_training(tiny_config(), "folder", data_path=str(tmp_path))
    assert plan.class_names == ("cat", "dog", "owl") and plan.config.num_classes == 3
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in ("pets/cat/1.png", "pets/dog/2.png"):
            zf.writestr(path, b"x")
    upload = plan_training(tiny_config(), "upload", data_path="pets.zip", archive=buffer.getvalue())
    assert upload.class_names == ("cat", "dog") and upload.config.num_classes == 2
    assert upload.train_config.data_path == "pets.zip"


def test_a_plan_is_always_one_that_can_train() -> None:
    with pytest.raises(ValueError, match="batch size 1 cannot train"):
        plan_training(get_preset("mini"), "digits", Choices(batch_size=1))
    with pytest.raises(ValueError, match="batch size 1 cannot train"):
        TrainPlan(
            tiny_config(),
            dataclasses.replace(plan_training(tiny_config(), "digits").train_config, batch_size=1),
        )
    with pytest.raises(ValueError, match="lr must be between"):
        plan_training(get_preset("mini"), "digits", Choices(lr=-1.0))
