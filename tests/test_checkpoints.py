"""Every file that is not a good checkpoint is refused with a sentence; nothing runs; the
previously loaded model keeps working."""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from googlenet_core import build_model, get_preset
from googlenet_core.data.transforms import Preprocessing
from googlenet_core.inference.checkpoints import (
    FORMAT,
    CheckpointError,
    LoadedCheckpoint,
    MissingConfigError,
    checkpoint_payload,
    load_checkpoint,
    save_checkpoint,
)

CLASSES = [str(d) for d in range(10)]
PREPROCESSING = Preprocessing(32, 1, (0.5,), (0.5,))


def to_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def good_payload() -> dict[str, Any]:
    torch.manual_seed(0)
    config = get_preset("mini")
    model = build_model(config)
    # Non-trivial BN statistics so that a wrong load would change the outputs.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return checkpoint_payload(model, config, CLASSES, PREPROCESSING, {"val_acc": 0.5})


@pytest.fixture(scope="module")
def previous(good_payload: dict[str, Any]) -> tuple[LoadedCheckpoint, torch.Tensor, torch.Tensor]:
    """A model loaded earlier, its reference input and output."""
    loaded = load_checkpoint(to_bytes(good_payload))
    x = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return loaded, x, loaded.model(x)


def assert_still_works(previous: tuple[LoadedCheckpoint, torch.Tensor, torch.Tensor]) -> None:
    loaded, x, expected = previous
    with torch.no_grad():
        assert torch.equal(loaded.model(x), expected)


def with_state(payload: dict[str, Any], change: Callable[[dict[str, torch.Tensor]], None]) -> bytes:
    edited = dict(payload)
    edited["state_dict"] = {k: v.clone() for k, v in payload["state_dict"].items()}
    change(edited["state_dict"])
    return to_bytes(edited)


class CreatesFile:
    """Unpickling this calls open(path, "w"): a stand-in for any code a pickle can run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_a_pickle_that_would_create_a_file_is_refused_without_running(
    tmp_path: Path,
    good_payload: dict[str, Any],
    previous: tuple[LoadedCheckpoint, torch.Tensor, torch.Tensor],
) -> None:
    # The payload is live: plain unpickling runs it and the file appears.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(CreatesFile(control))).close()
    assert control.exists()

    marker = tmp_path / "pwned"
    for evil in (CreatesFile(marker), {**good_payload, "metrics": CreatesFile(marker)}):
        path = tmp_path / "evil.pt"
        torch.save(evil, path)
        with pytest.raises(CheckpointError, match="refused without running anything"):
            load_checkpoint(path)
        assert not marker.exists()
    assert_still_works(previous)


BAD_FILES: list[tuple[str, Callable[[dict[str, Any]], bytes], str]] = [
    ("random bytes", lambda p: bytes(range(256)) * 64, "not a readable PyTorch file"),
    ("half a checkpoint", lambda p: to_bytes(p)[: len(to_bytes(p)) // 2], "not a readable"),
    ("empty file", lambda p: b"", "the file is empty"),
    (
        "wrong shape",
        lambda p: with_state(p, lambda s: s.__setitem__("fc.weight", torch.zeros(5, 256))),
        "wrong shape (1): fc.weight is 5x256 in the file, 10x256 in the network",
    ),
    (
        "missing key",
        lambda p: with_state(p, lambda s: s.pop("conv1.conv.weight")),
        "missing (1): conv1.conv.weight",
    ),
    (
        "extra key",
        lambda p: with_state(p, lambda s: s.__setitem__("extra.weight", torch.zeros(3))),
        "unexpected (1): extra.weight",
    ),
    (
        "NaN weights",
        lambda p: with_state(
            p, lambda s: s["inception4a.branch1.conv.weight"].view(-1)[7].fill_(float("nan"))
        ),
        "non-finite values (NaN or infinity) in inception4a.branch1.conv.weight",
    ),
    (
        "weights that overflow",
        lambda p: with_state(p, lambda s: s["fc.weight"].fill_(3e38)),
        "main gives non-finite scores",
    ),
    (
        "integer weights",
        lambda p: with_state(
            p, lambda s: s.__setitem__("fc.bias", torch.zeros(10, dtype=torch.int64))
        ),
        "wrong type (1): fc.bias is torch.int64 in the file, torch.float32 in the network",
    ),
    (
        "state_dict of non-tensors",
        lambda p: to_bytes({**p, "state_dict": {"fc.weight": [1.0, 2.0]}}),
        "state_dict values must be tensors: fc.weight",
    ),
    ("not a mapping", lambda p: to_bytes(torch.zeros(3)), "the file holds a Tensor"),
    (
        "another format",
        lambda p: to_bytes({**p, "format": "someone.else"}),
        "format is 'someone.else'",
    ),
    (
        "missing fields",
        lambda p: to_bytes({k: v for k, v in p.items() if k not in ("config", "state_dict")}),
        "the checkpoint lacks config, state_dict",
    ),
    (
        "newer format version",
        lambda p: to_bytes({**p, "format_version": 99}),
        "format_version 99; this version of googlenet_core reads up to 1",
    ),
    (
        "invalid config",
        lambda p: to_bytes({**p, "config": {**p["config"], "num_classes": 0}}),
        "the network config is invalid: network: num_classes",
    ),
    (
        "unknown config field",
        lambda p: to_bytes({**p, "config": {**p["config"], "evil": "x"}}),
        "the network config is invalid",
    ),
    (
        "class names that do not match the outputs",
        lambda p: to_bytes({**p, "class_names": ["a", "b"]}),
        "2 class names for a network with 10 outputs",
    ),
    (
        "malformed preprocessing",
        lambda p: to_bytes({**p, "preprocessing": {"input_size": 32}}),
        "preprocessing lacks in_channels",
    ),
    (
        "preprocessing for the wrong channels",
        lambda p: to_bytes(
            {**p, "preprocessing": Preprocessing(32, 3, (0.5,) * 3, (0.5,) * 3).to_dict()}
        ),
        "preprocessing gives 3-channel images to a network that takes 1",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_checkpoints_are_refused_and_the_previous_model_keeps_working(
    make: Callable[[dict[str, Any]], bytes],
    message: str,
    good_payload: dict[str, Any],
    previous: tuple[LoadedCheckpoint, torch.Tensor, torch.Tensor],
) -> None:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(make(good_payload))
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)
    assert_still_works(previous)


def test_oversize_file_is_refused_before_reading(
    tmp_path: Path,
    good_payload: dict[str, Any],
    previous: tuple[LoadedCheckpoint, torch.Tensor, torch.Tensor],
) -> None:
    path = tmp_path / "big.pt"
    path.write_bytes(to_bytes(good_payload))
    with pytest.raises(CheckpointError, match=r"the file is \d+\.\d MB; the limit is 1,000 bytes"):
        load_checkpoint(path, max_bytes=1000)
    with pytest.raises(CheckpointError, match="the limit is 1,000 bytes"):
        load_checkpoint(path.read_bytes(), max_bytes=1000)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "missing.pt")
    assert_still_works(previous)


def test_many_mismatches_are_listed_with_a_count(good_payload: dict[str, Any]) -> None:
    data = with_state(good_payload, lambda s: [s.pop(k) for k in list(s)[:20]])
    with pytest.raises(
        CheckpointError, match=r"missing \(20\): conv1\.conv\.weight; .* and 12 more"
    ):
        load_checkpoint(data)


def test_good_checkpoint_round_trips_with_everything(
    tmp_path: Path, good_payload: dict[str, Any], previous: tuple[LoadedCheckpoint, Any, Any]
) -> None:
    path = tmp_path / "best.pt"
    _, x, expected = previous
    config = get_preset("mini")
    model = build_model(config)
    model.load_state_dict(good_payload["state_dict"])
    save_checkpoint(path, model, config, CLASSES, PREPROCESSING, {"val_acc": 0.5})
    loaded = load_checkpoint(path)
    assert loaded.config == config
    assert loaded.class_names == CLASSES
    assert loaded.preprocessing == PREPROCESSING
    assert loaded.metrics == {"val_acc": 0.5}
    assert loaded.dropped_keys == []
    assert not loaded.model.training
    with torch.no_grad():
        assert torch.equal(loaded.model(x), expected)
        heads = loaded.model.forward_heads(x)
    assert heads.aux1 is not None and heads.aux2 is not None


def test_drop_aux_removes_exactly_the_aux_keys_and_loads_the_rest_strictly(
    tmp_path: Path, good_payload: dict[str, Any], previous: tuple[LoadedCheckpoint, Any, Any]
) -> None:
    _, x, expected = previous
    aux_keys = sorted(k for k in good_payload["state_dict"] if k.startswith(("aux1.", "aux2.")))
    assert aux_keys, "the mini preset has aux heads"
    slim = load_checkpoint(to_bytes(good_payload), drop_aux=True)
    assert sorted(slim.dropped_keys) == aux_keys
    assert slim.config.aux_logits is False
    assert not any(k.startswith("aux") for k in slim.model.state_dict())
    with torch.no_grad():
        assert torch.equal(slim.model(x), expected)  # the main head is untouched
        heads = slim.model.forward_heads(x)
    assert heads.aux1 is None and heads.aux2 is None

    # Round trip: the slim model saved and loaded again, strictly, without drop_aux.
    path = tmp_path / "slim.pt"
    save_checkpoint(path, slim.model, slim.config, CLASSES, PREPROCESSING)
    again = load_checkpoint(path)
    assert again.dropped_keys == [] and again.config.aux_logits is False
    with torch.no_grad():
        assert torch.equal(again.model(x), expected)

    # Strictness still bites: a real mismatch is not hidden by drop_aux.
    broken = with_state(good_payload, lambda s: s.pop("inception3a.branch1.conv.weight"))
    with pytest.raises(CheckpointError, match="missing \\(1\\): inception3a.branch1.conv.weight"):
        load_checkpoint(broken, drop_aux=True)


def test_aux_mismatch_messages_point_at_drop_aux(good_payload: dict[str, Any]) -> None:
    slim_config = {**good_payload["config"], "aux_logits": False}
    with pytest.raises(CheckpointError, match="load with drop_aux to remove exactly those keys"):
        load_checkpoint(to_bytes({**good_payload, "config": slim_config}))
    no_aux_state = {k: v for k, v in good_payload["state_dict"].items() if not k.startswith("aux")}
    with pytest.raises(CheckpointError, match="The file has no aux-head weights"):
        load_checkpoint(to_bytes({**good_payload, "state_dict": no_aux_state}))


def test_plain_state_dict_needs_a_config(good_payload: dict[str, Any]) -> None:
    plain = to_bytes(good_payload["state_dict"])
    with pytest.raises(MissingConfigError, match="plain state_dict with no network config"):
        load_checkpoint(plain)
    loaded = load_checkpoint(plain, config=get_preset("mini"))
    assert loaded.class_names == CLASSES  # "0".."9" by default for 10 outputs
    assert loaded.preprocessing == Preprocessing(32, 1, (0.5,), (0.5,))
    with pytest.raises(CheckpointError, match="carries its own network config"):
        load_checkpoint(to_bytes(good_payload), config=get_preset("mini"))
    # Saved from a DataParallel wrapper: every key prefixed with "module.".
    wrapped = {f"module.{k}": v for k, v in good_payload["state_dict"].items()}
    assert load_checkpoint(to_bytes(wrapped), config=get_preset("mini")).config.num_classes == 10


def test_half_precision_weights_load_into_a_float32_model(
    good_payload: dict[str, Any], previous: tuple[LoadedCheckpoint, Any, Any]
) -> None:
    half = copy.copy(good_payload)
    half["state_dict"] = {
        k: v.half() if v.is_floating_point() else v for k, v in good_payload["state_dict"].items()
    }
    loaded = load_checkpoint(to_bytes(half))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    _, x, expected = previous
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), expected, atol=1e-2, rtol=1e-2)


def test_format_marker_is_the_documented_one(good_payload: dict[str, Any]) -> None:
    assert good_payload["format"] == FORMAT == "googlenet_core.checkpoint"
