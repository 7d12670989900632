"""Hostile and careless files: refused with a sentence, in bounded memory, nothing run.

Every file here is made by the test, small on disk. The memory bombs are also
loaded in a child process under an address-space limit (where the platform
allows one), which must refuse them all and stay within its budget.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from googlenet_core import build_model, get_preset
from googlenet_core.cli import main
from googlenet_core.data.images import sanitise_image
from googlenet_core.data.transforms import Preprocessing
from googlenet_core.inference.checkpoints import (
    MAX_PARAMS,
    CheckpointError,
    checkpoint_payload,
    load_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
CLASSES = [str(d) for d in range(10)]
BIG = "x" * 1_000_000  # one 1 MB string; a pickle may refer to it any number of times


def to_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def good_payload() -> dict[str, Any]:
    torch.manual_seed(0)
    config = get_preset("mini")
    return checkpoint_payload(
        build_model(config), config, CLASSES, Preprocessing(32, 1, (0.5,), (0.5,))
    )


def expanded_bomb(config_name: str = "torchvision") -> bytes:
    """Every weight a stride-0 view of one number: a small file standing for gigabytes."""
    config = get_preset(config_name)
    with torch.device("meta"):
        expected = build_model(config).state_dict()
    state = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in expected.items()}
    payload = {**good_payload(), "config": config.to_dict(), "state_dict": state}
    payload["class_names"] = [str(i) for i in range(config.num_classes)]
    payload["preprocessing"] = Preprocessing(224, 3, (0.5,) * 3, (0.5,) * 3).to_dict()
    return to_bytes(payload)


def wide_config_payload() -> bytes:
    """A valid network far too big to build (every branch 1,000 wide, 24 blocks)."""
    paper = get_preset("paper")
    blocks = tuple(
        dataclasses.replace(paper.blocks[i % 9], name=f"inception{i}", ch1x1=1000, ch3x3=1000,
                            ch5x5=1000, pool_proj=1000, ch3x3red=1000, ch5x5red=1000)
        for i in range(24)
    )  # fmt: skip
    wide = dataclasses.replace(paper, blocks=blocks, pools=paper.pools[:2], aux_heads=())
    return to_bytes(
        {**good_payload(), "config": wide.to_dict(), "state_dict": {"w": torch.zeros(1)}}
    )


def deflated(data: bytes) -> bytes:
    """The same archive with every record DEFLATE-compressed (torch.save stores them)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def inflating(data: bytes, megabytes: int = 64) -> bytes:
    """The archive plus one record that inflates to ``megabytes`` from a few kilobytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))  # stored, as torch.save wrote them
        bomb = zipfile.ZipInfo("archive/data/zeros")
        bomb.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(bomb, "w", force_zip64=True) as record:
            for _ in range(megabytes):
                record.write(bytes(2**20))
    return out.getvalue()


def with_field(field: str, value: Any) -> bytes:
    return to_bytes({**good_payload(), field: value})


def with_preprocessing(**changes: Any) -> bytes:
    prep = {**good_payload()["preprocessing"], **changes}
    return with_field("preprocessing", prep)


class RunsSystem:
    """Unpickling calls os.system: the classic malicious pickle."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned > /tmp/googlenet-pwned",))


HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("stride-0 views", expanded_bomb, "views of other or smaller storage"),
    ("a network too big to build", wide_config_payload, "a checkpoint may hold at most"),
    ("a format field of 100,000 megabyte strings", lambda: with_field("format", [BIG] * 100_000),
     "format is a list"),
    ("a format_version of 100,000 megabyte strings",
     lambda: with_field("format_version", [BIG] * 100_000), "format_version must be a positive"),
    ("metrics that would print as gigabytes", lambda: with_field("metrics", {"a": [BIG] * 100_000}),
     "metrics['a'] must be a finite number or short text, got a list"),
    ("class names of a megabyte", lambda: with_field("class_names", [BIG] * 10),
     "class names must be text of at most 200 characters"),
    ("DEFLATE-compressed records", lambda: deflated(to_bytes(good_payload())),
     "compressed records"),
    ("a record that inflates 64 MB", lambda: inflating(to_bytes(good_payload())),
     "compressed records"),
    ("preprocessing at 6000 px", lambda: with_preprocessing(input_size=6000),
     "input_size must be between 1 and 1024, got 6000"),
    ("preprocessing at another side", lambda: with_preprocessing(input_size=64),
     "resizes images to 64 px for a network built for 32 px"),
    ("preprocessing at -5 px", lambda: with_preprocessing(input_size=-5), "input_size must be"),
    ("preprocessing at an infinite side", lambda: with_preprocessing(input_size=float("inf")),
     "input_size must be a whole number"),
    ("a NaN std", lambda: with_preprocessing(std=[float("nan")]), "std must be a number"),
    ("an infinite mean", lambda: with_preprocessing(mean=[float("inf")]), "mean must be a number"),
    ("a mean list of 100,000 entries", lambda: with_preprocessing(mean=[0.5] * 100_000),
     "mean must be a list of at most 4 numbers"),
    ("a pickle that calls os.system", lambda: to_bytes({"x": RunsSystem()}),
     "tries to run code (posix.system)"),
]  # fmt: skip


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    files = {}
    for index, (name, make, _) in enumerate(HOSTILE):
        path = folder / f"{index:02d}.pt"
        path.write_bytes(make())
        files[name] = path
    return files


@pytest.mark.parametrize(("name", "words"), [(n, w) for n, _, w in HOSTILE])
def test_a_hostile_checkpoint_is_refused_with_a_short_sentence(
    hostile_files: dict[str, Path], name: str, words: str
) -> None:
    path = hostile_files[name]
    assert path.stat().st_size < 4 * 2**20  # small on disk, whatever it stands for
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert words in str(info.value)
    assert len(str(info.value)) < 1000  # nothing read from the file is quoted whole
    assert not Path("/tmp/googlenet-pwned").exists()


@pytest.mark.parametrize(("name", "words"), [(n, w) for n, _, w in HOSTILE[:6]])
def test_the_cli_refuses_them_with_one_error_line(
    hostile_files: dict[str, Path], name: str, words: str, tmp_path: Path, capsys
) -> None:
    image = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(image)
    assert main(["predict", str(image), "--checkpoint", str(hostile_files[name])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1


def test_the_parameter_cap_matches_the_largest_file() -> None:
    assert MAX_PARAMS * 4 == 200 * 2**20


def test_a_big_photo_is_decoded_at_the_size_the_network_needs() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 120, 40)).save(buffer, "JPEG", quality=80)
    whole = sanitise_image(buffer.getvalue(), "big.jpg")
    small = sanitise_image(buffer.getvalue(), "big.jpg", target_side=224)
    assert whole.image is not None and whole.image.size == (6000, 4000)
    assert small.image is not None and 448 <= min(small.image.size) < 1000
    assert small.original_size == (6000, 4000)
    png = io.BytesIO()
    Image.new("L", (5000, 4000), 90).save(png, "PNG")
    reduced = sanitise_image(png.getvalue(), "big.png", target_side=32)
    assert reduced.image is not None and 64 <= min(reduced.image.size) < 128


_CHILD = textwrap.dedent(
    """
    import io, json, resource, sys
    limit = int(sys.argv[2]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import torch
    from PIL import Image
    from googlenet_core.inference.checkpoints import CheckpointError, load_checkpoint
    from googlenet_core.inference.predictor import Predictor, ResizeNormalize, predict_images
    from googlenet_core import build_model, get_preset
    from googlenet_core.inference.checkpoints import model_from_state_dict
    from googlenet_core.data.transforms import Preprocessing
    torch.set_num_threads(1)
    config = get_preset("torchvision")
    loaded = model_from_state_dict(
        build_model(config).state_dict(), config, [str(i) for i in range(1000)],
        Preprocessing(224, 3, (0.5,) * 3, (0.5,) * 3),
    )
    predictor = Predictor.from_checkpoint(loaded, source="random")
    tiny = io.BytesIO(); Image.new("RGB", (300, 200)).save(tiny, "PNG")
    predict_images(predictor, [("warm.png", tiny.getvalue())])
    # Photos made by the parent: making one costs its full size here, reading it must not.
    jpeg = open(sys.argv[3], "rb").read()
    png = open(sys.argv[4], "rb").read()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out = {"refused": [], "other": []}
    for path in sys.argv[5:]:
        try:
            load_checkpoint(path)
            out["other"].append(path + ": loaded")
        except CheckpointError:
            out["refused"].append(path)
        except BaseException as exc:  # what must not happen
            out["other"].append(f"{path}: {type(exc).__name__}")
    out["checkpoints_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - base
    out["jpeg_ok"] = predict_images(predictor, [("36mp.jpg", jpeg)])[0].ok
    out["jpeg_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - base
    results = predict_images(predictor, [(f"{i}.png", png) for i in range(32)])
    out["predicted"] = sum(r.ok for r in results)
    out["photos_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - base
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_memory_bombs_and_huge_photos_stay_within_budget(
    hostile_files: dict[str, Path], tmp_path: Path
) -> None:
    """Under a 4 GB address-space limit: every bomb refused, a 36 MP JPEG and 32 x 40 MP
    PNGs predicted, each within its memory budget (peak RSS over the warmed-up process)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS is enforced on Linux only")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    jpeg, png = tmp_path / "36mp.jpg", tmp_path / "40mp.png"
    Image.new("RGB", (7200, 5000), (90, 60, 30)).save(jpeg, "JPEG")  # 36 MP, ~0.3 MB
    Image.new("RGB", (8000, 5000), (30, 60, 90)).save(png, "PNG")  # 40 MP, ~0.1 MB
    files = [str(jpeg), str(png), *map(str, hostile_files.values())]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "run", "4096", *files],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["other"] == [] and len(out["refused"]) == len(HOSTILE)
    assert out["checkpoints_mb"] < 100, out  # no bomb got to allocate what it stands for
    assert out["jpeg_ok"] and out["jpeg_mb"] < 60, out  # decoded at 1/8 scale
    assert out["predicted"] == 32 and out["photos_mb"] < 300, out


def test_the_predict_page_refuses_every_one_and_keeps_its_model(
    hostile_files: dict[str, Path],
) -> None:
    """Each hostile upload: one error naming the file, no traceback, the model kept."""
    from conftest import app_test

    at = app_test("pages/predict.py", preset="mini").run()
    at.radio(key="predict_source").set_value("Upload a checkpoint").run()
    at.file_uploader(key="predict_checkpoint_file").set_value(
        ("good.pt", to_bytes(good_payload()), "application/octet-stream")
    )
    at.run().button(key="predict_load_upload").click().run()
    assert "uploaded good.pt" in " ".join(s.value for s in at.success)
    for name, path in hostile_files.items():
        at.file_uploader(key="predict_checkpoint_file").set_value(
            ("[click me](https://evil.example).pt", path.read_bytes(), "application/octet-stream")
        )
        at.run().button(key="predict_load_upload").click().run()
        assert not at.exception, name
        (error,) = [e.value for e in at.main.error]
        assert "`[click me](https://evil.example).pt`" in error, error  # the name as code
        assert "The previous model (`good.pt`) is still in use." in error, name
        assert "uploaded good.pt" in " ".join(s.value for s in at.success), name


def test_evaluate_refuses_them_too(hostile_files: dict[str, Path], tmp_path: Path, capsys) -> None:
    for digit in "01":
        (tmp_path / digit).mkdir()
        Image.new("L", (8, 8), 40 * int(digit)).save(tmp_path / digit / "a.png")
    for name, path in hostile_files.items():
        code = main(["evaluate", "--checkpoint", str(path), "--data", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (name, err)
