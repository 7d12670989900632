"""The paper preset reproduces Table 1 of "Going Deeper with Convolutions"."""

from __future__ import annotations

import pytest

from googlenet_core import analyze, get_preset
from googlenet_core.network.paper import compare

# Table 1, output size (H x W x C) of every Inception row.
TABLE1_OUTPUTS = {
    "inception3a": (256, 28, 28),
    "inception3b": (480, 28, 28),
    "inception4a": (512, 14, 14),
    "inception4b": (512, 14, 14),
    "inception4c": (512, 14, 14),
    "inception4d": (528, 14, 14),
    "inception4e": (832, 14, 14),
    "inception5a": (832, 7, 7),
    "inception5b": (1024, 7, 7),
}
# Table 1, "ops" column, millions of multiply-accumulates.
TABLE1_OPS_M = {
    "inception3a": 128,
    "inception3b": 304,
    "inception4a": 73,
    "inception4b": 88,
    "inception4c": 100,
    "inception4d": 119,
    "inception4e": 170,
    "inception5b": 71,
}


@pytest.fixture(scope="module")
def paper_rows():  # noqa: ANN201
    return {row.name: row for row in analyze(get_preset("paper")).rows}


def test_inception_output_sizes(paper_rows) -> None:
    for name, shape in TABLE1_OUTPUTS.items():
        assert paper_rows[name].out_shape == shape, name


@pytest.mark.parametrize(("name", "ops_m"), TABLE1_OPS_M.items())
def test_inception_ops_within_rounding(paper_rows, name: str, ops_m: int) -> None:
    assert paper_rows[name].macs / 1e6 == pytest.approx(ops_m, abs=1.0)


def test_stem_and_classifier(paper_rows) -> None:
    # The paper's "convolution 3x3/1" row is conv2 (its 64-wide 1x1 reduce) plus conv3: 360M.
    assert (paper_rows["conv2"].macs + paper_rows["conv3"].macs) / 1e6 == pytest.approx(360, abs=1)
    assert paper_rows["fc"].macs == 1024 * 1000  # "1M"
    assert paper_rows["conv1"].out_shape == (64, 112, 112)
    assert paper_rows["maxpool4"].out_shape == (832, 7, 7)


def test_where_the_published_table_disagrees_with_arithmetic() -> None:
    """Trust arithmetic. The published table is off in a few rows:

    * conv1: printed 2.7K params / 34M ops; 7*7*3*64 = 9,408 weights -> 118M MACs at 112x112.
    * inception5a: printed 54M ops / 1072K params; its own channel numbers give 51.1M / 1018K.
    * inception4c: printed 463K params; 128+128*... gives 509,440 weights (497.5K of 1024).
    Everything else matches within rounding (params counted in thousands of 1024, as the
    1024x1000 classifier's "1000K" shows).
    """
    table = compare(get_preset("paper")).set_index("stages")
    assert not table["output_differs"].any()
    assert set(table.index[table["ops_differ"]]) == {"conv1", "inception5a"}
    assert set(table.index[table["params_differ"]]) == {"conv1", "inception4c", "inception5a"}
    assert table.loc["conv1", "computed_ops_m"] == pytest.approx(118.0, abs=0.1)
    assert table.loc["inception5a", "computed_ops_m"] == pytest.approx(51.1, abs=0.1)
