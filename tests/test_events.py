"""Training events: typed records that round-trip through JSON, versioned, refused when foreign."""

from __future__ import annotations

import json

import pytest
from tiny import tiny_config, tiny_train_config

from googlenet_core.training.events import (
    SCHEMA_VERSION,
    AuxHead,
    DownloadEvent,
    EndEvent,
    EpochEvent,
    Event,
    HeadScore,
    NoteEvent,
    StartEvent,
    StepEvent,
    event_from_dict,
    event_to_dict,
    progress_of,
)

START = StartEvent(
    device="cpu",
    precision="fp32",
    channels_last=True,
    world_size=1,
    dataset="digits",
    dataset_description="bundled digits",
    val_description="64 held out",
    skipped={"not an image": 1},
    classes=tuple("0123456789"),
    train_images=64,
    val_images=64,
    steps_per_epoch=4,
    total_steps=8,
    epochs=2,
    batch_size=16,
    aux_heads=(
        AuxHead("aux1", "inception3a", 0.3, True),
        AuxHead("aux2", "inception4a", 0.0, False),
    ),
    stages=("conv1", "inception3a", "fc"),
    params=5_000,
    macs=88_112,
    model_config=tiny_config(),
    train_config=tiny_train_config(),
    time=100.0,
)
STEP = StepEvent(4, 1, 2.5, 2.2, 1.0, None, 0.01, 512.0, time=104.0)
EPOCH = EpochEvent(
    epoch=1,
    step=4,
    train_loss=2.4,
    train_acc=0.2,
    val=(HeadScore("main", 2.1, 0.3), HeadScore("aux1", 2.2, 0.25), HeadScore("aux2", 2.3, 0.1)),
    grad_norms={"conv1": 0.5, "inception3a": 0.25, "fc": 1.0},
    epoch_seconds=4.0,
    train_seconds=3.5,
    best_val_acc=0.3,
    time=105.0,
)
END = EndEvent("completed", "done", 0.3, 1, 1, 4, 3.5, 6.0, time=106.0)
EVENTS: list[Event] = [
    START,
    STEP,
    EPOCH,
    END,
    NoteEvent("reading digits", time=101.0),
    DownloadEvent("train.gz", 10, 100, time=102.0),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_every_event_round_trips_through_json(event: Event) -> None:
    data = json.loads(json.dumps(event_to_dict(event)))
    assert data["v"] == SCHEMA_VERSION and data["type"] == event.kind
    assert event_from_dict(data) == event


def test_epoch_events_read_by_head_and_flatten_for_tables() -> None:
    assert EPOCH.val_acc == 0.3 and EPOCH.val_loss == 2.1
    assert EPOCH.score("aux2") == HeadScore("aux2", 2.3, 0.1) and EPOCH.score("aux3") is None
    row = EPOCH.row()
    assert (row["val_acc"], row["val_acc_aux1"], row["val_loss_aux2"]) == (0.3, 0.25, 2.3)
    assert row["grad_norm.inception3a"] == 0.25 and row["type"] == "epoch"
    assert STEP.losses() == {"total": 2.5, "main": 2.2, "aux1": 1.0, "aux2": None}


def test_an_unversioned_event_is_upgraded() -> None:
    old_epoch = {
        "type": "epoch", "epoch": 1, "step": 4, "train_loss": 2.4, "train_acc": 0.2,
        "val_loss": 2.1, "val_acc": 0.3, "val_loss_aux1": 2.2, "val_acc_aux1": 0.25,
        "val_loss_aux2": None, "val_acc_aux2": None,  # a network with one aux head
        "grad_norms": {"conv1": 0.5}, "epoch_seconds": 4.0, "train_seconds": 3.5,
        "best_val_acc": 0.3, "time": 105.0,
    }  # fmt: skip
    epoch = event_from_dict(old_epoch)
    assert isinstance(epoch, EpochEvent)
    assert epoch.val == (HeadScore("main", 2.1, 0.3), HeadScore("aux1", 2.2, 0.25))
    old_start = {k: v for k, v in event_to_dict(START).items() if k not in ("v", "aux_heads")}
    old_start |= {
        "aux_present": {"aux1": True, "aux2": True},
        "aux_in_loss": {"aux1": True, "aux2": False},
        "aux_weights": {"aux1": 0.3, "aux2": 0.0},
    }
    assert event_from_dict(old_start) == START


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"v": 2, "type": "note", "message": "x"}, "schema version 2"),
        ({"v": 1, "type": "lunch"}, "unknown event type 'lunch'"),
        ({"v": 1, "type": "step", "step": 1}, "a malformed step event"),
        (
            {
                "v": 1,
                "type": "end",
                **{k: 0 for k in ("message", "best_val_acc", "best_epoch")},
                "status": "exploded",
                "epochs_completed": 0,
                "steps": 0,
                "train_seconds": 0,
                "elapsed": 0,
            },
            "unknown status 'exploded'",
        ),  # fmt: skip
        ([1, 2], "must be a JSON object"),
    ],
)
def test_anything_else_is_refused_with_a_sentence(data: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        event_from_dict(data)  # type: ignore[arg-type]


def test_progress_from_the_events_so_far() -> None:
    assert progress_of([]) == (0.0, None)
    assert progress_of([START]) == (0.0, None)
    done, left = progress_of([START, STEP])
    assert done == 0.5 and left == pytest.approx(4.0)  # 4 s for the first half
