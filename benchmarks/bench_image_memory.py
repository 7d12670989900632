"""Memory of predicting huge photos: decoded at the size the network needs vs at full size.

Each case runs in a fresh child process (so its peak RSS is its own): the
torchvision preset at 224 px with random weights, warmed up on a small image,
then ``predict_images`` on the case's files, read from disk as an upload would
be. Reported: the growth of peak RSS over the warmed-up process.

- one 36 MP JPEG (7200 x 5000): libjpeg decodes it at 1/8 scale;
- 32 x 40 MP PNGs (8000 x 5000, 0.1 MB each on disk, the size of a small
  upload): each decoded in full (PNG has no reduced decode), box-averaged down
  at once, released before the next.

The baseline is the same code with the decode side disabled (every image
decoded and converted at full size, as before this was bounded). Targets:
+60 MB for the JPEG, +300 MB for the 32 PNGs.

    python benchmarks/bench_image_memory.py

Prints: measured MB / baseline MB / ratio, and the target, per case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

CHILD = textwrap.dedent(
    """
    import io, json, resource, sys
    import torch
    from PIL import Image
    from googlenet_core import build_model, get_preset
    from googlenet_core.data.transforms import Preprocessing
    from googlenet_core.inference.checkpoints import model_from_state_dict
    from googlenet_core.inference.predictor import Predictor, predict_images
    torch.set_num_threads(1)
    config = get_preset("torchvision")
    loaded = model_from_state_dict(
        build_model(config).state_dict(), config, [str(i) for i in range(1000)],
        Preprocessing(224, 3, (0.5,) * 3, (0.5,) * 3),
    )
    predictor = Predictor.from_checkpoint(loaded, source="random")
    if sys.argv[1] == "full-size":
        predictor.preprocess.decode_side = 10**6  # never shrink: the unbounded baseline
    tiny = io.BytesIO(); Image.new("RGB", (300, 200)).save(tiny, "PNG")
    predict_images(predictor, [("warm.png", tiny.getvalue())])
    data = open(sys.argv[2], "rb").read()
    count = int(sys.argv[3])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = predict_images(predictor, [(f"{i}", data) for i in range(count)])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ok": sum(r.ok for r in results), "mb": (after - before) / 1024}))
    """
)


def measure(mode: str, path: Path, count: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(count)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} {path.name}: the child failed\n{done.stderr[-2000:]}")
    out = json.loads(done.stdout.splitlines()[-1])
    if out["ok"] != count:
        raise SystemExit(f"{mode} {path.name}: {out['ok']} of {count} predicted")
    return float(out["mb"])


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="bench-image-memory-"))
    jpeg, png = folder / "36mp.jpg", folder / "40mp.png"
    Image.new("RGB", (7200, 5000), (90, 60, 30)).save(jpeg, "JPEG")
    Image.new("RGB", (8000, 5000), (30, 60, 90)).save(png, "PNG")
    print(f"load average {os.getloadavg()[0]:.2f}; peak RSS growth over a warmed-up process")
    for label, path, count, target in (
        ("one 36 MP JPEG", jpeg, 1, 60),
        ("32 x 40 MP PNGs", png, 32, 300),
    ):
        measured = measure("bounded", path, count)
        baseline = measure("full-size", path, count)
        verdict = "meets" if measured < target else "misses"
        print(
            f"{label} ({path.stat().st_size / 1024:.0f} KB each): measured +{measured:.0f} MB "
            f"/ baseline (full-size decode) +{baseline:.0f} MB / ratio {measured / baseline:.2f}"
            f"; target +{target} MB ({verdict})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
