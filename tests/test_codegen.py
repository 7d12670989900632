"""The exported PyTorch file: self-contained (torch only), strict-loading, identical outputs."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from googlenet_core import build_model, get_preset
from googlenet_core.cli import main
from googlenet_core.data.digits import DIGIT_CLASSES
from googlenet_core.data.transforms import Preprocessing
from googlenet_core.inference.checkpoints import load_checkpoint, save_checkpoint
from googlenet_core.inference.export import (
    load_safetensors,
    onnx_missing,
    plain_pytorch_zip,
    safetensors_bytes,
)
from googlenet_core.network.codegen import pytorch_source
from googlenet_core.network.config import GoogLeNetConfig

RUNNER = """
import importlib.util, sys, torch
sys.modules["googlenet_core"] = None  # any import of the project fails loudly
for case in {cases!r}:
    spec = importlib.util.spec_from_file_location(case, case + ".py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = torch.load(case + ".expected.pt", weights_only=True)
    model = module.GoogLeNet(num_classes=expected["classes"])
    model.load_state_dict(torch.load(case + ".pt", weights_only=True), strict=True)
    model.eval()
    with torch.no_grad():
        heads = model.forward_heads(expected["x"])
        plain = model(expected["x"])
    for name, got in zip(("main", "aux1", "aux2"), heads):
        want = expected.get(name)
        assert (got is None) == (want is None), (case, name)
        if got is not None:
            diff = (got - want).abs().max().item()
            assert diff < 1e-5, (case, name, diff)
    assert (plain - expected["main"]).abs().max().item() < 1e-5, case
    print(case, "ok")
"""


def _cases() -> dict[str, GoogLeNetConfig]:
    mini, paper = get_preset("mini"), get_preset("paper")
    cell = dataclasses.replace(mini.blocks[0], ch3x3=40)
    return {
        "mini": mini,
        "torchvision": get_preset("torchvision"),
        "paper_160": dataclasses.replace(paper, input_size=160),  # no BN, 5x5/3 aux pools
        "mini_no_aux": dataclasses.replace(mini, aux_logits=False),
        "mini_edited_10_classes": dataclasses.replace(
            mini, blocks=(cell, *mini.blocks[1:]), num_classes=10
        ),
    }


def test_the_exported_file_builds_without_the_project_and_matches_its_model(
    tmp_path: Path,
) -> None:
    cases = _cases()
    for name, config in cases.items():
        model = build_model(config, seed=0).eval()
        side, channels = config.input_size, config.in_channels
        x = torch.randn(2, channels, side, side, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            heads = model.forward_heads(x)
        expected = {"x": x, "classes": config.num_classes}
        expected |= {n: t for n, t in heads.named()}
        torch.save(expected, tmp_path / f"{name}.expected.pt")
        torch.save(model.state_dict(), tmp_path / f"{name}.pt")
        source = pytorch_source(config)
        (tmp_path / f"{name}.py").write_text(source)
        imports = {line for line in source.splitlines() if line.startswith(("import", "from"))}
        assert imports == {
            "import torch",
            "import torch.nn.functional as F",
            "from torch import nn",
        }
    done = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER.format(cases=list(cases))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [w for n in cases for w in (n, "ok")]


def test_every_number_is_written_out_with_shapes() -> None:
    source = pytorch_source(get_preset("torchvision"))
    assert "self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, k5=3)" in source
    assert (
        "# 192 x 28 x 28 -> 256 x 28 x 28; its '5x5' branch is 3x3; out = 64 + 128 + 32 + 32"
        in (source)
    )
    assert "self.aux1 = InceptionAux(512, 128, 128 * 4 * 4, 1024, num_classes" in source
    assert "self.fc = nn.Linear(1024, num_classes)" in source
    assert "aux1 = self.aux1(x)" in source and "return logits, aux1, aux2" in source
    paper = pytorch_source(get_preset("paper"))
    assert "bias=True" in paper and "BatchNorm2d" not in paper
    assert '("avg", 5, 3)' in paper


def test_the_export_command_writes_a_checkpoints_network_and_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = dataclasses.replace(get_preset("mini"), num_classes=10, input_size=16)
    model = build_model(config, seed=3).eval()
    preprocessing = Preprocessing(16, 1, (0.3,), (0.3,))
    save_checkpoint(tmp_path / "best.pt", model, config, list(DIGIT_CLASSES), preprocessing)
    out = tmp_path / "export" / "digits_net.py"
    out.parent.mkdir()
    assert main(["export", "--checkpoint", str(tmp_path / "best.pt"), "-o", str(out)]) == 0
    assert "digits_net.pt" in capsys.readouterr().out
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.save({"x": x, "main": model(x)}, out.parent / "expected.pt")
    check = (
        "import importlib.util, sys, torch\n"
        "sys.modules['googlenet_core'] = None\n"
        "spec = importlib.util.spec_from_file_location('net', 'digits_net.py')\n"
        "net = importlib.util.module_from_spec(spec); spec.loader.exec_module(net)\n"
        "model = net.GoogLeNet(num_classes=10)\n"
        "model.load_state_dict(torch.load('digits_net.pt', weights_only=True), strict=True)\n"
        "e = torch.load('expected.pt', weights_only=True)\n"
        "with torch.no_grad(): d = (model.eval()(e['x']) - e['main']).abs().max().item()\n"
        "assert d < 1e-5, d\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", check], cwd=out.parent, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # A wrong output name is one line, not a traceback.
    assert main(["export", "--preset", "mini", "-o", str(tmp_path / "net.txt")]) == 2
    assert "is a .py file" in capsys.readouterr().err


def _checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    config = dataclasses.replace(get_preset("mini"), num_classes=10, input_size=16)
    model = build_model(config, seed=5).eval()
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():  # scores that differ visibly between images
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.5, generator=generator)
    path = tmp_path / "best.pt"
    preprocessing = Preprocessing(16, 1, (0.3,), (0.3,))
    save_checkpoint(path, model, config, list(DIGIT_CLASSES), preprocessing)
    return path, model


def test_safetensors_round_trip_with_config_classes_and_preprocessing(tmp_path: Path) -> None:
    checkpoint, model = _checkpoint(tmp_path)
    out = tmp_path / "net.safetensors"
    args = ["export", "--checkpoint", str(checkpoint), "--format", "safetensors", "-o", str(out)]
    assert main(args) == 0
    loaded = load_safetensors(out)
    assert loaded.class_names == list(DIGIT_CLASSES)
    assert loaded.preprocessing == Preprocessing(16, 1, (0.3,), (0.3,))
    assert loaded.config == model.config  # type: ignore[comparison-overlap]
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))
    # Only this project's files: another safetensors file is refused with a sentence.
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not exported by this project"):
        load_safetensors(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_safetensors(tmp_path / "junk.safetensors")
    assert main(["export", "--preset", "mini", "--format", "safetensors", "-o", str(out)]) == 2


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime_or_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint, model = _checkpoint(tmp_path)
    out = tmp_path / "net.onnx"
    code = main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", "-o", str(out)])
    if onnx_missing():
        assert code == 2 and "pip install" in capsys.readouterr().err
        pytest.skip(onnx_missing() or "")
    assert code == 0, capsys.readouterr().err
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(out))
    x = torch.randn(5, 1, 16, 16, generator=torch.Generator().manual_seed(4))  # another batch
    [got] = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (5, 10)
    assert abs(got - want).max() < 1e-4 * max(1.0, abs(want).max())


def test_the_dashboards_zip_holds_code_weights_and_card_that_load_without_the_project(
    tmp_path: Path,
) -> None:
    """What the Train page hands out for a run (plain PyTorch code + weights + card)."""
    checkpoint, model = _checkpoint(tmp_path)
    loaded = load_checkpoint(checkpoint)
    blob = plain_pytorch_zip(loaded, "run-7", card="# Model card\n")
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert sorted(archive.namelist()) == ["MODEL_CARD.md", "run-7.pt", "run-7.py"]
        archive.extractall(out)
    assert "run-7.pt" in (out / "run-7.py").read_text().split('"""')[1]  # says where weights are
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.save({"x": x, "main": model(x)}, out / "expected.pt")
    check = (
        "import importlib.util, sys, torch\n"
        "sys.modules['googlenet_core'] = None\n"
        "spec = importlib.util.spec_from_file_location('net', 'run-7.py')\n"
        "net = importlib.util.module_from_spec(spec); spec.loader.exec_module(net)\n"
        "model = net.GoogLeNet(num_classes=10)\n"
        "model.load_state_dict(torch.load('run-7.pt', weights_only=True), strict=True)\n"
        "e = torch.load('expected.pt', weights_only=True)\n"
        "with torch.no_grad(): d = (model.eval()(e['x']) - e['main']).abs().max().item()\n"
        "assert d < 1e-5, d\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", check], cwd=out, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # The safetensors download: weights, network, classes and preprocessing.
    blob = safetensors_bytes(loaded.model, loaded.class_names, loaded.preprocessing)
    (tmp_path / "download.safetensors").write_bytes(blob)
    again = load_safetensors(tmp_path / "download.safetensors")
    assert (again.config, again.class_names) == (loaded.config, loaded.class_names)
    with torch.no_grad():
        assert torch.equal(again.model(x), model(x))


def _renamed(config: GoogLeNetConfig, old: str, new: str) -> GoogLeNetConfig:
    """``config`` with stage ``old`` called ``new`` (pools and aux heads follow it)."""

    def rename(spec: object) -> object:
        changes = {f: new for f in ("name", "after") if getattr(spec, f, None) == old}
        return dataclasses.replace(spec, **changes) if changes else spec  # type: ignore[type-var]

    parts = {
        part: tuple(map(rename, getattr(config, part))) for part in ("stem", "blocks", "pools")
    }
    return dataclasses.replace(config, **parts, aux_heads=tuple(map(rename, config.aux_heads)))


#: Names a design may carry (from a JSON file or a link) that are legal but unusual: each
#: must give a model, and a generated file that compiles and loads its weights strictly.
ODD_NAMES = ("x", "logits", "torch", "nn", "F", "self", "num_classes", "match", "print",
             "块", "é")  # fmt: skip
#: Names that are refused when the design is made, with a sentence naming what is wrong.
HOSTILE_NAMES = {
    "forward": "taken by the model itself",
    "training": "taken by the model itself",
    "config": "taken by the model itself",
    "state_dict": "taken by the model itself",
    "class": "is a Python keyword",
    "None": "is a Python keyword",
    "lambda": "is a Python keyword",
    "ｆｃ": "Python reads as 'fc'",
    "ｉｎｃｅｐｔｉｏｎ３ｂ": "Python reads as 'inception3b'",
    "_private": "Python identifier",
    "two words": "Python identifier",
}


@pytest.mark.parametrize(("name", "why"), HOSTILE_NAMES.items())
def test_a_hostile_stage_name_is_refused_when_the_design_is_made(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        _renamed(get_preset("mini"), "inception3a", name)


def test_odd_but_legal_names_build_and_their_code_compiles_and_loads(tmp_path: Path) -> None:
    cases = {}
    for i, name in enumerate(ODD_NAMES):
        config = _renamed(get_preset("mini"), "inception3a", name)
        model = build_model(config, seed=0).eval()
        x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            heads = model.forward_heads(x)
        case = f"odd{i}"
        torch.save({"x": x, "classes": config.num_classes, **dict(heads.named())},
                   tmp_path / f"{case}.expected.pt")  # fmt: skip
        torch.save(model.state_dict(), tmp_path / f"{case}.pt")
        source = pytorch_source(config)
        compile(source, f"{case}.py", "exec")  # a syntax error would fail here, by name
        (tmp_path / f"{case}.py").write_text(source)
        cases[case] = name
    done = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER.format(cases=list(cases))],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [w for c in cases for w in (c, "ok")]
