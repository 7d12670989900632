"""A digit on paper read as the bundled digits were made (googlenet_core.data.digit_photos),
and the checkpoint's record of it: polarity, crop, aspect, specks, a blank page, uneven
light, several marks, colour, and the recorded preprocessing's round trip."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image, ImageDraw
from tiny import tiny_config, tiny_data, tiny_train_config

from googlenet_core.data.digit_photos import GRID, read_digit
from googlenet_core.data.digits import load_digits
from googlenet_core.data.samples import digit_samples
from googlenet_core.data.transforms import Preprocessing
from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.inference.predictor import (
    DigitBlocks,
    Predictor,
    ResizeNormalize,
    predict_images,
)
from googlenet_core.training.runs import Run
from googlenet_core.training.train import train

sys.path.insert(0, str(ROOT / "benchmarks"))
from photo_render import digits_as_strokes, photograph  # noqa: E402


def _page(
    size: tuple[int, int] = (400, 300),
    at: tuple[int, int] = (150, 80),
    height: int = 120,
    paper: int = 235,
    ink: int = 30,
) -> Image.Image:
    """A "7" with a crossbar drawn in pen on a page: ``height`` px tall, its top left at ``at``."""
    page = Image.new("L", size, paper)
    draw = ImageDraw.Draw(page)
    x, y, w = at[0], at[1], height * 0.6
    stroke = max(3, height // 12)
    draw.line([(x, y), (x + w, y), (x + w * 0.35, y + height)], fill=ink, width=stroke)
    draw.line([(x + w * 0.2, y + height * 0.5), (x + w * 0.8, y + height * 0.5)], fill=ink,
              width=stroke)  # fmt: skip
    return page


def _close(a: np.ndarray, b: np.ndarray, mean: float = 1.0) -> bool:
    return float(np.abs(a.astype(int) - b.astype(int)).mean()) <= mean


def test_the_grid_is_what_the_digits_hold() -> None:
    reading = read_digit(_page())
    assert reading.counts.shape == (GRID, GRID)
    assert reading.counts.min() >= 0 and reading.counts.max() <= 16
    assert reading.ink == "dark" and reading.marks == 1 and not reading.problems
    assert np.asarray(reading.image).shape == (8, 8)  # 0..255, as load_digits gives them
    assert np.asarray(reading.image).max() >= 12 * 255 // 16  # full blocks on the stroke


def test_dark_ink_on_paper_and_chalk_on_a_board_read_alike() -> None:
    dark = read_digit(_page(paper=235, ink=30))
    light = read_digit(_page(paper=30, ink=235))
    assert light.ink == "light" and dark.ink == "dark"
    assert np.array_equal(dark.counts, light.counts)


def test_where_the_digit_is_and_how_big_does_not_matter() -> None:
    base = read_digit(_page())
    for size, at, height in (
        ((1200, 900), (900, 600), 240),  # a corner of a big page
        ((300, 300), (10, 10), 60),  # small, near the edge
        ((640, 480), (300, 200), 200),
    ):
        moved = read_digit(_page(size, at, height))
        assert _close(base.counts, moved.counts), (size, at, height)
        left, top, right, bottom = moved.box  # type: ignore[misc]
        assert abs(left - at[0]) <= height * 0.1 and abs(top - at[1]) <= height * 0.1


def test_the_crop_fills_the_height_and_the_forms_width() -> None:
    """As the form reader did: every digit 32 px tall and about 20 wide, even a thin one."""
    page = Image.new("L", (300, 300), 240)
    ImageDraw.Draw(page).line([(150, 60), (150, 240)], fill=20, width=8)  # a plain "1"
    counts = read_digit(page).counts
    assert (counts.sum(axis=1) > 0).all()  # every row
    assert counts[:, 0].sum() == 0 and counts[:, 7].sum() == 0  # columns 1..6, like the data
    data, _ = load_digits()
    assert (data[:, :, 0] == 0).mean() > 0.99  # the bundled digits leave column 0 empty


def test_a_marker_and_a_fine_pen_reach_the_network_alike() -> None:
    """The form reader's stroke normalisation: a bitmap's ink is eroded or dilated toward
    the band the bundled digits hold, so the pen's width hardly shows in the grid."""
    fine, marker = (
        read_digit(_page((500, 400), (180, 60), 240, ink=20)),
        read_digit(_stroked_seven(width=40)),
    )
    data, _ = load_digits()
    held = np.rint(data.astype(np.float64) * 16 / 255).sum(axis=(1, 2))
    low, high = np.percentile(held, [1, 99])
    for reading in (fine, marker):
        assert low <= reading.counts.sum() <= high  # ink pixels of 32 x 32, as the data's
    # the same glyph before the normalisation: the marker holds far more ink
    assert _raw_ink(_stroked_seven(width=40)) > 1.4 * _raw_ink(_page((500, 400), (180, 60), 240))
    assert _close(fine.counts, marker.counts, mean=1.6)


def _stroked_seven(width: int) -> Image.Image:
    page = Image.new("L", (500, 400), 235)
    draw = ImageDraw.Draw(page)
    x, y, w, h = 180, 60, 144, 240
    draw.line([(x, y), (x + w, y), (x + w * 0.35, y + h)], fill=20, width=width)
    draw.line([(x + w * 0.2, y + h * 0.5), (x + w * 0.8, y + h * 0.5)], fill=20, width=width)
    return page


def _raw_ink(page: Image.Image) -> int:
    """The ink pixels of the 20 x 32 stretched glyph, before the stroke normalisation."""
    from googlenet_core.data import digit_photos as dp

    mask = np.asarray(page.convert("L")) < 128
    rows, cols = np.nonzero(mask)
    glyph = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    return int(dp._normalised_bitmap(glyph).sum())


def test_the_stroke_normalisation_follows_the_form_reader() -> None:
    from googlenet_core.data import digit_photos as dp

    bar = np.zeros((32, 32), bool)
    bar[:, 14:18] = True  # 128 ink pixels: under 256, dilated once
    once = dp._stroke_width(bar)
    assert once.sum() == 128 + 2 * 32 and once[:, 13:19].all()
    dot = np.zeros((32, 32), bool)
    dot[14:18, 14:18] = True  # 16: under 108, dilated twice (4-neighbour steps: a diamond)
    assert dp._stroke_width(dot).sum() == 16 + 16 + 20
    block = np.zeros((32, 32), bool)
    block[2:30, 6:26] = True  # 560 exactly: eroded once
    assert dp._stroke_width(block).sum() == 26 * 18
    inside = np.zeros((32, 32), bool)
    inside[0:20, 6:22] = True  # 320: inside the band, left as it is
    assert np.array_equal(dp._stroke_width(inside), inside)


def test_the_slant_is_taken_out_after_the_stretch_as_the_form_reader_did() -> None:
    """NIST's shear lines up the leftmost ink two rows inside the top and the bottom; rows
    may leave the 20-pixel band, as in the bundled digits."""
    from googlenet_core.data import digit_photos as dp

    leaning = np.zeros((32, 32), bool)
    for row in range(32):
        start = 20 - row // 4  # leans right: the top further right than the bottom
        leaning[row, start : start + 4] = True
    upright = dp._upright(leaning)
    starts = [int(np.nonzero(upright[row])[0][0]) for row in range(2, 30)]
    assert max(starts) - min(starts) <= 1
    assert upright.sum() == leaning.sum()  # a shear moves ink, it does not make or lose any
    straight = np.zeros((32, 32), bool)
    straight[:, 14:18] = True
    assert np.array_equal(dp._upright(straight), straight)
    data, _ = load_digits()
    assert ((data[:, :, 7] > 0).any(axis=1)).mean() > 0.05  # the data's sheared rows


def _vignetted(paper: int, ink: int, corner: float) -> Image.Image:
    """A small "7" on a page a phone's vignette darkens toward the corners, lit from one side."""
    page = np.asarray(_page((400, 300), (260, 120), 40, paper=paper, ink=ink), dtype=np.float32)
    ys, xs = np.mgrid[0:300, 0:400].astype(np.float32)
    centre = ((ys / 300 - 0.5) ** 2 + (xs / 400 - 0.5) ** 2) * 2
    light = (1 - corner * centre) * (1 + 0.2 * (xs / 400 - 0.5))
    return Image.fromarray(np.clip(page * light, 0, 255).astype(np.uint8), mode="L")


@pytest.mark.parametrize("corner", [0.2, 0.3, 0.4])
def test_a_vignette_does_not_turn_a_small_digit_into_chalk(corner: float) -> None:
    """The ink's tone comes from the sharpest marks, not from the page's extremes: with a
    vignette, the darkest pixels of a page with a small digit are its corners (the rule
    before read these as "light ink", and 4 % of the benchmark's phone photos with it)."""
    dark = read_digit(_vignetted(paper=220, ink=90, corner=corner))
    assert dark.ink == "dark" and dark.box is not None
    left, top, right, bottom = dark.box
    assert 250 <= left <= 270 and 110 <= top <= 130 and bottom - top < 60
    chalk = read_digit(_vignetted(paper=50, ink=200, corner=corner))
    assert chalk.ink == "light"
    assert _close(dark.counts, chalk.counts, mean=1.0)


def test_specks_are_not_ink() -> None:
    clean = read_digit(_page())
    page = _page()
    rng = np.random.default_rng(0)
    draw = ImageDraw.Draw(page)
    for x, y in rng.integers(0, 300, size=(25, 2)):
        draw.ellipse([x, y, x + 2, y + 2], fill=40)  # dust and pepper noise
    specked = read_digit(page)
    assert np.array_equal(clean.counts, specked.counts)
    assert specked.box == clean.box


def test_uneven_light_is_taken_out() -> None:
    flat = read_digit(_page())
    page = np.asarray(_page(), dtype=np.float32)
    ramp = np.linspace(0.45, 1.0, page.shape[1])[None, :]  # a lamp to the right
    dim = Image.fromarray((page * ramp).astype(np.uint8))
    lit = read_digit(dim)
    assert lit.ink == "dark" and _close(flat.counts, lit.counts, mean=0.5)


def test_a_blank_page_says_so() -> None:
    page = Image.fromarray(
        np.clip(np.random.default_rng(1).normal(220, 4, (300, 400)), 0, 255).astype(np.uint8)
    )
    reading = read_digit(page)
    assert reading.box is None and not reading.counts.any()
    assert any("no ink found" in p for p in reading.problems)


def test_two_digits_side_by_side_are_said() -> None:
    page = _page((600, 300), (60, 80), 120)
    page.paste(_page((250, 300), (60, 80), 120).crop((0, 0, 250, 300)), (330, 0))
    reading = read_digit(page)
    assert reading.marks >= 2
    assert any("separate marks" in p for p in reading.problems)


def test_a_colour_photo_is_said() -> None:
    page = Image.new("RGB", (300, 300), (240, 240, 235))
    ImageDraw.Draw(page).rectangle([0, 0, 300, 80], fill=(200, 40, 40))  # a red header
    ImageDraw.Draw(page).line([(150, 100), (150, 260)], fill=(20, 20, 120), width=8)
    reading = read_digit(page)
    assert any("colour photo" in p for p in reading.problems)
    assert not any("colour" in p for p in read_digit(_page().convert("RGB")).problems)


def test_photos_of_bundled_digits_read_back_near_their_grids() -> None:
    """A photo (page, light, blur, noise, JPEG) of a digit's strokes gives back most of its
    grid: the reading repeats the data's making."""
    images, _ = load_digits()
    strokes = digits_as_strokes(images[:40])
    rng = np.random.default_rng(3)
    errors = []
    for grid, ink in zip(images[:40], strokes, strict=True):
        reading = read_digit(photograph(ink, rng))
        errors.append(np.abs(reading.counts - np.rint(grid / 255 * 16)).mean())
    assert float(np.median(errors)) < 3.0, errors


def test_a_saved_sample_is_read_as_it_is() -> None:
    """An 8 x 8 grayscale PNG is already a grid of the data's kind: not cropped again, so
    a digit saved from the set predicts exactly like its training sample."""
    for _, data in digit_samples():
        grid = Image.open(io.BytesIO(data))
        reading = read_digit(grid)
        assert np.array_equal(np.asarray(reading.image), np.asarray(grid))
        assert "as it is" in reading.describe() and not reading.problems


def test_a_page_of_dots_costs_one_pass_not_one_per_mark(monkeypatch) -> None:
    """Thousands of marks (a crafted upload) are said, and every mark's box is found in one
    pass over the ink, never one scan of the page per mark (that took 3.9 s of a shared
    server's CPU for a 256 px page of dots). Counted, not timed."""
    from googlenet_core.data import digit_photos

    scans = []
    real = digit_photos.np.nonzero

    def counting(array):  # type: ignore[no-untyped-def]
        scans.append(1)
        return real(array)

    monkeypatch.setattr(digit_photos.np, "nonzero", counting)
    page = np.full((256, 256), 255, np.uint8)
    page[::3, ::3] = page[::3, 1::3] = page[1::3, ::3] = 0
    reading = read_digit(Image.fromarray(page))
    assert reading.marks > 5000 and any("separate marks" in p for p in reading.problems)
    assert len(scans) < 20, f"{len(scans)} scans of the page for {reading.marks} marks"


def test_odd_shapes_are_read_without_warnings() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in ((1, 1), (1, 8), (2, 5000), (5000, 1)):
            read_digit(Image.new("L", size, 200))
    line = Image.new("L", (5000, 1), 255)
    line.paste(0, (100, 0, 4900, 1))
    left, top, right, bottom = read_digit(line).box  # type: ignore[misc]
    assert (top, bottom) == (0, 1) and left < 200 and right > 4800  # each axis its own scale
    dark_on_white = np.full((8, 8), 255, np.uint8)
    dark_on_white[1:7, 3:5] = 0  # an 8 x 8 thumbnail, not a grid of the data's kind
    assert read_digit(Image.fromarray(dark_on_white)).ink == "dark"


# ---- the recorded preprocessing ----------------------------------------------------------


def test_the_kind_is_recorded_and_read_back() -> None:
    blocks = Preprocessing(16, 1, (0.3,), (0.3,), kind="digit-blocks")
    assert Preprocessing.from_dict(blocks.to_dict()) == blocks
    plain = Preprocessing(16, 1, (0.3,), (0.3,))
    assert "kind" not in plain.to_dict()  # a resize checkpoint reads as before the kind
    assert Preprocessing.from_dict({"input_size": 16, "in_channels": 1, "mean": [0.3],
                                    "std": [0.3]}).kind == "resize"  # fmt: skip
    with pytest.raises(ValueError, match="kind must be one of"):
        Preprocessing(16, 1, (0.3,), (0.3,), kind="magic")


def test_a_digits_run_records_it_and_prediction_applies_it(tmp_path: Path) -> None:
    data = tiny_data()
    assert data.preprocessing.kind == "digit-blocks"
    run = Run.create(tiny_config(), tiny_train_config(), tmp_path)
    result = train(tiny_config(), tiny_train_config(), data=data, run=run)
    assert result.status == "completed"
    loaded = load_checkpoint(run.path / "best.pt")
    assert loaded.preprocessing.kind == "digit-blocks"
    predictor = Predictor.from_checkpoint(loaded, "a tiny digits run")
    assert isinstance(predictor.preprocess, DigitBlocks)
    assert predictor.preprocess.decode_side >= 256  # the digit may be a tenth of the page
    photo = io.BytesIO()
    _page().save(photo, format="PNG")
    (answer,) = predict_images(predictor, [("seven.png", photo.getvalue())])
    assert answer.ok and answer.reading is not None and answer.reading.box is not None
    assert answer.model_input is not None and answer.model_input.shape == (1, 16, 16)
    assert answer.to_json()["digit"]["grid"] == answer.reading.counts.tolist()
    # A checkpoint without the kind (any before it, or another data set) keeps the resize.
    older = dataclasses.replace(loaded, preprocessing=Preprocessing(16, 1, (0.3,), (0.3,)))
    plain = Predictor.from_checkpoint(older, "older")
    assert type(plain.preprocess) is ResizeNormalize
    (old,) = predict_images(plain, [("seven.png", photo.getvalue())])
    assert old.ok and old.reading is None
