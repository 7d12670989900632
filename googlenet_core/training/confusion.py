"""Which validation images the best model got wrong, and as what: a run's confusion matrix.

At every epoch that improves the best accuracy the trainer writes, next to ``best.pt``:

::

    confusion.json     {"classes", "matrix" (rows: true class, columns: answer),
                        "epoch", "errors": [{"index", "true", "predicted",
                        "confidence", "file"}, ...]}
    errors/NNNN.png    a thumbnail of each listed validation image that went wrong

so a run's page can show per-class accuracy and, in each off-diagonal cell, the images
behind the count (Teachable Machine's users asked for exactly that). The thumbnails are
bounded: at most :data:`PER_CELL` per cell and :data:`MAX_ERRORS` in all, and none for a
data set of more than :data:`MAX_THUMBNAIL_CLASSES` classes (its matrix is still kept).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .._io import atomic_write_bytes, atomic_write_text
from ..data.batches import ImageSet
from .evaluation import Evaluation

CONFUSION = "confusion.json"
ERRORS = "errors"
PER_CELL = 4
MAX_ERRORS = 80
MAX_THUMBNAIL_CLASSES = 20
THUMBNAIL = 64  # pixels, the longer side


@dataclass(frozen=True)
class Mistake:
    index: int  # in the validation split
    true: int
    predicted: int
    confidence: float  # the main head's probability of its (wrong) answer
    file: Path | None  # its thumbnail, where one was kept


@dataclass(frozen=True)
class Confusion:
    classes: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]  # [true][predicted]
    epoch: int | None
    mistakes: tuple[Mistake, ...]

    def per_class(self) -> list[tuple[str, int, int]]:
        """(class, right, images) for every class, in the data's order."""
        return [
            (name, row[i], sum(row))
            for i, (name, row) in enumerate(zip(self.classes, self.matrix, strict=True))
        ]

    def cell(self, true: int, predicted: int) -> list[Mistake]:
        return [m for m in self.mistakes if m.true == true and m.predicted == predicted]


def write_confusion(
    run_path: Path,
    val: ImageSet,
    class_names: Sequence[str],
    evaluation: Evaluation,
    epoch: int | None = None,
) -> bool:
    """Write the matrix and the wrong images' thumbnails; False where there are no answers
    per image (under torchrun each rank scores a share)."""
    predicted, confidence = evaluation.predicted, evaluation.confidence
    if predicted is None or confidence is None or len(predicted) != len(val):
        return False
    classes = len(class_names)
    labels = val.labels.detach().cpu()
    matrix = torch.zeros(classes, classes, dtype=torch.int64)
    matrix.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    errors: list[dict[str, Any]] = []
    folder = run_path / ERRORS
    if classes <= MAX_THUMBNAIL_CLASSES:
        wrong = (predicted != labels).nonzero().flatten().tolist()
        # The most confident mistakes first: they say most about what the model learned.
        wrong.sort(key=lambda i: -float(confidence[i]))
        per_cell: dict[tuple[int, int], int] = {}
        for i in wrong:
            cell = (int(labels[i]), int(predicted[i]))
            if per_cell.get(cell, 0) >= PER_CELL or len(errors) >= MAX_ERRORS:
                continue
            per_cell[cell] = per_cell.get(cell, 0) + 1
            name = f"{ERRORS}/{i:05d}.png"
            folder.mkdir(exist_ok=True)
            atomic_write_bytes(run_path / name, thumbnail(val.images[i]))
            errors.append(
                {
                    "index": i,
                    "true": cell[0],
                    "predicted": cell[1],
                    "confidence": round(float(confidence[i]), 4),
                    "file": name,
                }
            )
    record = {
        "classes": list(class_names),
        "matrix": matrix.tolist(),
        "epoch": epoch,
        "errors": errors,
    }
    atomic_write_text(run_path / CONFUSION, json.dumps(record))
    kept = {e["file"] for e in errors}
    if folder.is_dir():  # an earlier best epoch's thumbnails that this one does not list
        for path in folder.glob("*.png"):
            if f"{ERRORS}/{path.name}" not in kept:
                with contextlib.suppress(OSError):
                    path.unlink()
    return True


def read_confusion(run_path: Path) -> Confusion | None:
    """A run's confusion matrix, or None where it has none (or it cannot be read)."""
    try:
        record = json.loads((run_path / CONFUSION).read_text(encoding="utf-8"))
        classes = tuple(str(c) for c in record["classes"])
        matrix = tuple(tuple(int(v) for v in row) for row in record["matrix"])
        if len(matrix) != len(classes) or any(len(row) != len(classes) for row in matrix):
            return None
        mistakes = []
        for e in record.get("errors", []):
            path = (run_path / str(e["file"])).resolve()
            inside = path.parent == (run_path / ERRORS).resolve() and path.is_file()
            true, predicted = int(e["true"]), int(e["predicted"])
            if not (0 <= true < len(classes) and 0 <= predicted < len(classes)):
                continue
            mistakes.append(
                Mistake(
                    int(e["index"]),
                    true,
                    predicted,
                    float(e["confidence"]),
                    path if inside else None,
                )
            )
        epoch = record.get("epoch")
        return Confusion(
            classes, matrix, int(epoch) if epoch is not None else None, tuple(mistakes)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def thumbnail(image: torch.Tensor) -> bytes:
    """A PNG of one image of a split (uint8 or [0, 1] floats, C x H x W), THUMBNAIL px long."""
    image = image.detach().cpu()
    if image.dtype != torch.uint8:
        image = (image.float().clamp(0, 1) * 255).round().to(torch.uint8)
    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3])
    scale = THUMBNAIL / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    # Small images (the 8 x 8 digits) are enlarged in blocks, as their cells were counted.
    method = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    out = io.BytesIO()
    picture.resize(size, method).save(out, format="PNG")
    return out.getvalue()
