"""What does the safe prediction path cost on top of the network itself?

End to end for one 224 px JPEG photo (decode, sanitise, torchvision's
preprocessing for the ImageNet weights, every head's forward pass, softmax and
top-5) through ``predict_images``, against torchvision's own ``googlenet``
forward pass alone on an already preprocessed tensor, same weights, in one run.
Target: overhead under 10 %. Then throughput for a batch of 32 photos, the same
comparison.

The weights are a random torchvision state dict standing in for the ImageNet
file in a temporary torch hub folder, loaded by the real pretrained path (no
download; the arithmetic is the same as with the real weights).

    python benchmarks/bench_predict.py [--repeats N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.models import GoogLeNet_Weights  # noqa: E402

from googlenet_core.data.samples import sample_photos  # noqa: E402
from googlenet_core.inference.predictor import predict_images  # noqa: E402
from googlenet_core.inference.pretrained import load_pretrained, weights_path  # noqa: E402


def photo_224() -> bytes:
    """A real photo (the bundled cat) as a 224 x 224 JPEG, as a phone app might send it."""
    _, data = sample_photos()[0]
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def interleaved_medians(
    a: Callable[[], object], b: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b``, alternated so that load on the machine hits both."""
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch-repeats", type=int, default=5)
    args = parser.parse_args()

    torch.manual_seed(0)
    reference = torchvision.models.googlenet(
        weights=None, aux_logits=True, init_weights=True, transform_input=True
    ).eval()
    with tempfile.TemporaryDirectory() as hub:
        target = weights_path(hub)
        target.parent.mkdir(parents=True)
        torch.save(reference.state_dict(), target)
        predictor = load_pretrained(hub_dir=hub)

    photo = photo_224()
    tensor = GoogLeNet_Weights.IMAGENET1K_V1.transforms()(
        Image.open(io.BytesIO(photo)).convert("RGB")
    )
    [check] = predict_images(predictor, [("photo.jpg", photo)])
    assert check.ok and check.model_input is not None
    assert torch.equal(check.model_input, tensor), "both sides must see the same input"
    with torch.inference_mode():
        ours = torch.softmax(predictor.model(tensor[None]), 1)
        theirs = torch.softmax(reference(tensor[None]), 1)
    assert torch.allclose(ours, theirs, atol=1e-6), "same weights, same outputs"

    def end_to_end() -> None:
        predict_images(predictor, [("photo.jpg", photo)], top_k=5)

    def forward_only() -> None:
        with torch.inference_mode():
            reference(tensor[None])

    for _ in range(3):  # warm-up: allocator, oneDNN primitives
        end_to_end()
        forward_only()
    t_ours, t_base = interleaved_medians(end_to_end, forward_only, args.repeats)
    print(f"CPU threads: {torch.get_num_threads()}; repeats: {args.repeats} (median)")
    print("one 224 px JPEG photo:")
    overhead = 100 * (t_ours / t_base - 1)
    print(f"  measured  end to end, predict_images:   {t_ours * 1e3:8.2f} ms")
    print("            (decode, sanitise, preprocess, all heads' forward, top-5)")
    print(f"  baseline  torchvision forward alone:    {t_base * 1e3:8.2f} ms")
    print(f"  ratio     {t_ours / t_base:.3f}  (overhead {overhead:+.1f} %, target < +10 %)")

    batch_files = [(f"photo{i}.jpg", photo) for i in range(32)]
    batch_tensor = tensor.unsqueeze(0).repeat(32, 1, 1, 1)

    def batch_ours() -> None:
        predict_images(predictor, batch_files, top_k=5, batch_size=32)

    def batch_base() -> None:
        with torch.inference_mode():
            reference(batch_tensor)

    batch_ours()
    batch_base()
    b_ours, b_base = interleaved_medians(batch_ours, batch_base, args.batch_repeats)
    print(f"batch of 32 photos (repeats: {args.batch_repeats}, median):")
    print(f"  measured  predict_images: {32 / b_ours:8.1f} images/s  ({b_ours * 1e3:.0f} ms)")
    print(f"  baseline  forward alone:  {32 / b_base:8.1f} images/s  ({b_base * 1e3:.0f} ms)")
    print(f"  ratio     {b_base / b_ours:.3f} of the bare forward pass's throughput")


if __name__ == "__main__":
    main()
