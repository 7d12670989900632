"""A run's accuracy per class and its confusion matrix, with the images that went wrong.

Both come from what the trainer wrote at the run's best epoch
(:mod:`googlenet_core.training.confusion`); a run from before it has neither.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from googlenet_core.figures.confusion import PHONE, WIDE, confusion_figure
from googlenet_core.i18n import _
from googlenet_core.training.confusion import PER_CELL, Confusion, Mistake, read_confusion
from pages.common.text import plain
from pages.common.view import chart, on_phone

#: Thumbnails read for one figure at most (each is a small PNG, a few hundred bytes).
MAX_THUMBNAILS = 200
#: Wrong cells listed with their images under the figure, the largest first.
MAX_CELLS = 12


def per_class_ui(run_path: Path, run_id: str) -> None:
    """Per-class accuracy and the matrix of the selected run, when it wrote them."""
    confusion = read_confusion(run_path)
    if confusion is None:
        return
    with st.expander(_("Per class: accuracy and what went wrong"), expanded=True):
        st.dataframe(
            per_class_frame(confusion),
            hide_index=True,
            column_config={
                "accuracy": st.column_config.ProgressColumn(
                    _("accuracy"), format="percent", min_value=0.0, max_value=1.0
                ),
                "class": st.column_config.TextColumn(_("class")),
                "right": st.column_config.NumberColumn(_("right")),
                "images": st.column_config.NumberColumn(_("validation images")),
            },
            key=f"train_per_class_{run_id}",
        )
        images = {}
        for mistake in confusion.mistakes[:MAX_THUMBNAILS]:
            if mistake.file is not None:
                try:
                    images[mistake.file.name] = mistake.file.read_bytes()
                except OSError:
                    continue  # pruned meanwhile: the count stays, without its picture
        width = PHONE if on_phone() else WIDE
        chart(confusion_figure(confusion, images, width), key=f"train_confusion_{run_id}")
        mistakes_ui(confusion, images)


def mistakes_ui(confusion: Confusion, images: dict[str, bytes]) -> None:
    """Every kept mistake, by cell, largest cells first, with the model's confidence."""
    cells: dict[tuple[int, int], list[Mistake]] = {}
    for mistake in confusion.mistakes:
        if mistake.file is not None and mistake.file.name in images:
            cells.setdefault((mistake.true, mistake.predicted), []).append(mistake)
    if not cells:
        return
    st.caption(
        _(
            "A wrong cell shows two of its validation images, the most confident mistakes "
            "first; below, up to {n} per cell, with how sure the model was."
        ).format(n=PER_CELL)
    )
    order = sorted(cells, key=lambda cell: -confusion.matrix[cell[0]][cell[1]])
    for true, predicted in order[:MAX_CELLS]:
        shown = cells[(true, predicted)]
        st.markdown(
            _("**{true}** read as **{answer}**: {count} of {total}").format(
                true=plain(confusion.classes[true]),
                answer=plain(confusion.classes[predicted]),
                count=confusion.matrix[true][predicted],
                total=sum(confusion.matrix[true]),
            )
        )
        st.image(
            [images[m.file.name] for m in shown if m.file is not None],
            caption=[f"{m.confidence:.0%}" for m in shown],
            width=72,
        )


def per_class_frame(confusion: Confusion) -> pd.DataFrame:
    rows = confusion.per_class()
    return pd.DataFrame(
        {
            "class": [row[0] for row in rows],
            "right": [row[1] for row in rows],
            "images": [row[2] for row in rows],
            "accuracy": [row[1] / row[2] if row[2] else None for row in rows],
        }
    )
