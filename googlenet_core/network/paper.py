"""Table 1 of "Going Deeper with Convolutions" as published, for comparison with arithmetic.

The figures are the paper's own (https://arxiv.org/abs/1409.4842, Table 1):
output size, params and ops ("ops" are multiply-accumulates). Parameters are in
thousands of 1024 (the 1024 x 1000 classifier is listed as 1000K). The channel
numbers themselves live only in ``presets._PAPER_TABLE``; this module holds what
the paper *reports*, so the two can be set side by side.

Where the published row disagrees with the arithmetic of its own channel
numbers, :func:`compare` says so; the dashboard highlights those rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .analysis import analyze
from .config import GoogLeNetConfig


@dataclass(frozen=True)
class PublishedRow:
    stages: tuple[str, ...]  # our stage names that make up the paper's row
    label: str  # the paper's "type" column
    output: tuple[int, int, int]  # H, W, C as printed ("28x28x256")
    params_k: float | None  # "params" column, thousands (None: not listed)
    ops_m: float | None  # "ops" column, millions (None: not listed)


PUBLISHED: tuple[PublishedRow, ...] = (
    PublishedRow(("conv1",), "convolution 7x7/2", (112, 112, 64), 2.7, 34),
    PublishedRow(("maxpool1",), "max pool 3x3/2", (56, 56, 64), None, None),
    # The paper's second row is one "convolution 3x3/1" with a 64-wide 1x1 reduction:
    # our conv2 (the reduction) and conv3 together.
    PublishedRow(("conv2", "conv3"), "convolution 3x3/1", (56, 56, 192), 112, 360),
    PublishedRow(("maxpool2",), "max pool 3x3/2", (28, 28, 192), None, None),
    PublishedRow(("inception3a",), "inception (3a)", (28, 28, 256), 159, 128),
    PublishedRow(("inception3b",), "inception (3b)", (28, 28, 480), 380, 304),
    PublishedRow(("maxpool3",), "max pool 3x3/2", (14, 14, 480), None, None),
    PublishedRow(("inception4a",), "inception (4a)", (14, 14, 512), 364, 73),
    PublishedRow(("inception4b",), "inception (4b)", (14, 14, 512), 437, 88),
    PublishedRow(("inception4c",), "inception (4c)", (14, 14, 512), 463, 100),
    PublishedRow(("inception4d",), "inception (4d)", (14, 14, 528), 580, 119),
    PublishedRow(("inception4e",), "inception (4e)", (14, 14, 832), 840, 170),
    PublishedRow(("maxpool4",), "max pool 3x3/2", (7, 7, 832), None, None),
    PublishedRow(("inception5a",), "inception (5a)", (7, 7, 832), 1072, 54),
    PublishedRow(("inception5b",), "inception (5b)", (7, 7, 1024), 1388, 71),
    PublishedRow(("avgpool",), "avg pool 7x7/1", (1, 1, 1024), None, None),
    PublishedRow(("fc",), "linear", (1, 1, 1000), 1000, 1),
)

#: How far a computed figure may be from the printed one and still count as the same:
#: the paper rounds to whole thousands / millions and counts weights only.
OPS_TOLERANCE = 0.02
PARAMS_TOLERANCE = 0.03


def compare(config: GoogLeNetConfig) -> pd.DataFrame:
    """Each published row beside the figures computed from ``config``.

    Columns: ``row``, ``published_output``, ``computed_output``,
    ``published_params_k``, ``computed_params_k`` (weights only, thousands of
    1024, as the paper counts), ``published_ops_m``, ``computed_ops_m``, and
    boolean ``output_differs``, ``params_differ``, ``ops_differ``.
    """
    analysis = analyze(config)
    by_name = {r.name: r for r in analysis.rows}
    weights = {r.name: 0 for r in analysis.rows}
    for layer in analysis.layers:
        if layer.kind == "conv":
            cin, cout = layer.in_shape[0], layer.out_shape[0]
            k = int(layer.kernel.split("x")[0])
            weights[layer.stage] += cin * cout * k * k
        elif layer.kind == "linear":
            weights[layer.stage] += layer.in_shape[0] * layer.out_shape[0]
    records = []
    for pub in PUBLISHED:
        present = [s for s in pub.stages if s in by_name]
        if not present:
            continue
        last = by_name[present[-1]]
        shape = last.out_shape
        out = (shape[1], shape[2], shape[0]) if len(shape) == 3 else (1, 1, shape[0])
        params_k = sum(weights[s] for s in present) / 1024
        ops_m = sum(by_name[s].macs for s in present) / 1e6
        records.append(
            {
                "row": pub.label,
                "stages": ", ".join(present),
                "published_output": "x".join(map(str, pub.output)),
                "computed_output": "x".join(map(str, out)),
                "published_params_k": pub.params_k,
                "computed_params_k": round(params_k, 1),
                "published_ops_m": pub.ops_m,
                "computed_ops_m": round(ops_m, 1),
                "output_differs": out != pub.output,
                "params_differ": _differs(pub.params_k, params_k, PARAMS_TOLERANCE),
                "ops_differ": _differs(pub.ops_m, ops_m, OPS_TOLERANCE),
            }
        )
    return pd.DataFrame.from_records(records)


def _differs(published: float | None, computed: float, tolerance: float) -> bool:
    if published is None:
        return False
    # "Within rounding": the printed whole number, give or take the tolerance.
    return abs(computed - published) > max(0.5, tolerance * published)
