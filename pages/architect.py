"""Architect: design the network — preset, Inception table, settings, blocks, JSON.

Every edit goes through googlenet_core's validation (:mod:`googlenet_core.network.editing`):
a valid edit becomes the current network for every page and the URL; an
invalid one is shown with the sentence naming the block and field, and the
last valid network stays active.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from googlenet_core import (
    GoogLeNetConfig,
    analyze,
    get_preset,
    list_presets,
    matching_preset,
    minimum_input_size,
    network_name,
)
from googlenet_core.figures.style import format_change, format_count
from googlenet_core.i18n import _, pgettext
from googlenet_core.network.codegen import pytorch_source
from googlenet_core.network.config import CHANNEL_FIELDS
from googlenet_core.network.editing import (
    COMPUTED_COLUMNS,
    add_block,
    apply_edits,
    blocks_frame,
    export_json,
    import_json,
    remove_block,
)
from googlenet_core.network.presets import REGISTRY
from pages.common import (
    config_error,
    config_version,
    current_config,
    flash,
    literal,
    refresh_widgets,
    reject_edit,
    rerun,
    run_page,
    set_config,
)


def block_column_config() -> dict[str, Any]:
    """Column headers of the blocks table, in the paper's Table 1 wording and the active
    language: only the labels are translated, the frame's columns stay as they are."""
    computed = _("computed")
    return {
        "name": st.column_config.TextColumn(_("block")),
        # Float columns shown with "%g": an integer column would truncate a typed 2.5 to 2 in
        # the browser, before the validation that explains why 2.5 is no channel count.
        "ch1x1": st.column_config.NumberColumn(
            "#1×1", help=_("branch 1: 1×1 conv filters"), format="%g"
        ),
        "ch3x3red": st.column_config.NumberColumn(
            _("#3×3 reduce"), help=_("branch 2: 1×1 conv before the 3×3"), format="%g"
        ),
        "ch3x3": st.column_config.NumberColumn(
            "#3×3", help=_("branch 2: 3×3 conv filters"), format="%g"
        ),
        "ch5x5red": st.column_config.NumberColumn(
            _("#5×5 reduce"), help=_("branch 3: 1×1 conv before the 5×5"), format="%g"
        ),
        "ch5x5": st.column_config.NumberColumn(
            "#5×5", help=_("branch 3: 5×5 conv filters"), format="%g"
        ),
        "pool_proj": st.column_config.NumberColumn(
            _("pool proj"), help=_("branch 4: 1×1 conv after the 3×3 max-pool"), format="%g"
        ),
        "in_channels": st.column_config.NumberColumn(_("in depth"), help=computed),
        "out_channels": st.column_config.NumberColumn(
            _("out depth"), help=_("computed: the four sums")
        ),
        "side": st.column_config.NumberColumn(_("side px"), help=_("computed feature-map side")),
        "params": st.column_config.NumberColumn(_("params"), format="localized", help=computed),
        "macs": st.column_config.NumberColumn(_("MACs"), format="compact", help=computed),
    }


MAX_UPLOAD_MB = 1  # a config is a few KB; import_json caps it at 64 KB anyway
HISTORY = 50  # designs kept for undo
_PREVIOUS = "arch_previous_config"  # the network before the last accepted edit, for deltas
_HISTORY = "arch_history"  # every accepted design, oldest first (undo / redo walk it)
_POSITION = "arch_history_position"
_REFUSED = "arch_refused"  # a refused edit's sentence, shown after its widgets were reset


def _accept(config: GoogLeNetConfig) -> None:
    """Make ``config`` current, remembering the one it replaces for the deltas and undo."""
    st.session_state[_PREVIOUS] = current_config()
    set_config(config)
    _remember(config)


def _remember(config: GoogLeNetConfig) -> None:
    """Add ``config`` to the undo history after the current position (dropping any redo)."""
    history: list[GoogLeNetConfig] = st.session_state.get(_HISTORY, [])
    position: int = st.session_state.get(_POSITION, len(history) - 1)
    if history and history[position] == config:
        return
    history = [*history[: position + 1], config][-HISTORY:]
    st.session_state[_HISTORY] = history
    st.session_state[_POSITION] = len(history) - 1


def _refuse(message: str) -> None:
    """Refuse an edit: revert the widgets that carried it to the last valid network.

    The refused value must not stay in the table or the box: left there, it went back
    with every later change, and each of those was refused with its sentence.
    """
    reject_edit(message)
    st.session_state[_REFUSED] = message
    refresh_widgets()
    rerun()


def _apply(build: Callable[[], GoogLeNetConfig], message: str) -> None:
    """Make ``build()`` the current network and rerun, or show why it was refused."""
    before = current_config()
    try:
        config = build()
    except ValueError as exc:
        reject_edit(str(exc))
        return
    _accept(config)
    flash(" ".join([message, *moved_heads(before, config)]))
    rerun()


def moved_heads(before: GoogLeNetConfig, after: GoogLeNetConfig) -> list[str]:
    """Sentences for the aux heads an edit moved or removed, with their parameter counts."""
    old = {h.name: h.after for h in before.aux_heads}
    new = {h.name: h.after for h in after.aux_heads}
    params_before = {r.name: r.params for r in analyze(before).rows if r.is_aux}
    params_after = {r.name: r.params for r in analyze(after).rows if r.is_aux}
    said = []
    for name, was in old.items():
        if name not in new:
            said.append(_("{head} went with {block}.").format(head=name, block=was))
        elif new[name] != was:
            change = ""
            message = _(
                "{head} now follows {block} (it followed {old}, which is gone), "
                "since its input depth changed."
            )
            if name in params_before and name in params_after:
                change = format_change(params_before[name], params_after[name])
                message = _(
                    "{head} now follows {block} (it followed {old}, which is gone): its "
                    "parameters {change}, since its input depth changed."
                )
            said.append(message.format(head=name, block=new[name], old=was, change=change))
    return said


def _delta(now: int, before: int | None) -> str | None:
    if before is None or now == before:
        return None
    # An ASCII "-": st.metric reads only that as a decrease (U+2212 showed an up arrow).
    # The figure alone: "+13.65 M since the last edit" was cut to "+13.65 M since the last …"
    # in a quarter of a 1280 px screen; the caption under the figures says what it is.
    sign = "+" if now > before else "-"
    return f"{sign}{format_count(abs(now - before))}"


def history_ui(config: GoogLeNetConfig) -> None:
    """Undo and redo of design edits (any page's change of network joins the history)."""
    _remember(config)
    history: list[GoogLeNetConfig] = st.session_state[_HISTORY]
    position: int = st.session_state[_POSITION]
    left, right, _unused = st.columns([1, 1, 4])
    if left.button(_("Undo"), icon=":material/undo:", key="arch_undo", disabled=position == 0):
        _go(history, position - 1, _("Undone."))
    if right.button(
        _("Redo"), icon=":material/redo:", key="arch_redo", disabled=position >= len(history) - 1
    ):
        _go(history, position + 1, _("Redone."))


def _go(history: list[GoogLeNetConfig], position: int, message: str) -> None:
    st.session_state[_PREVIOUS] = current_config()
    st.session_state[_POSITION] = position
    set_config(history[position])
    flash(message)
    rerun()


def totals_ui(config: GoogLeNetConfig) -> None:
    """The network's cost, and how the last edit changed it."""
    analysis = analyze(config)
    previous = st.session_state.get(_PREVIOUS)
    before = analyze(previous) if previous is not None else None
    smallest = minimum_input_size(config)
    cols = st.columns(4)
    cols[0].metric(
        _("Parameters (deployed)"),
        format_count(analysis.params_without_aux),
        delta=_delta(analysis.params_without_aux, before.params_without_aux if before else None),
        delta_color="off",
        help=_("{deployed:,}; the auxiliary heads add {aux:,}").format(
            deployed=analysis.params_without_aux, aux=analysis.aux_params
        ),
    )
    cols[1].metric(
        _("MACs per image"),
        format_count(analysis.macs_without_aux),
        delta=_delta(analysis.macs_without_aux, before.macs_without_aux if before else None),
        delta_color="off",
        help=_("{macs:,} multiply-accumulates, main head").format(macs=analysis.macs_without_aux),
    )
    cols[2].metric(_("Depth into the classifier"), config.feature_channels)
    cols[3].metric(
        _("Smallest input it accepts"),
        f"{smallest} px" if smallest else _("none"),
        help=_("below this, a pool or an auxiliary head would get an empty feature map"),
    )
    if before is not None and before != analysis:
        st.caption(_("Under each figure: how much the last edit changed it."))


def preset_ui(config: GoogLeNetConfig) -> None:
    current = matching_preset(config)
    names = list_presets()
    # Said here, in this run's language: a format_func called later (AppTest's) has none.
    labels = {
        name: _("{name}: {description}").format(name=name, description=REGISTRY.description(name))
        for name in names
    }
    choice = st.selectbox(
        _("Start from a preset"),
        names,
        index=names.index(current) if current else None,
        placeholder=_("custom design (edited)"),
        format_func=labels.__getitem__,
        key=f"arch_preset_{config_version()}",
    )
    if choice is not None and choice != current:
        _apply(lambda: get_preset(choice), _("Loaded the {name} preset.").format(name=choice))


def settings_ui(config: GoogLeNetConfig) -> dict[str, Any]:
    """Network-wide settings; bounds are left to the config's validation and its message."""
    version = config_version()
    cols = st.columns(4, vertical_alignment="bottom")
    return {
        # Float inputs shown as whole numbers: an integer input would round a typed 2.5
        # away before the validation could say what is wrong with it.
        "input_size": cols[0].number_input(
            _("Input size (pixels)"),
            value=float(config.input_size),
            step=1.0,
            format="%g",
            key=f"arch_size_{version}",
        ),
        "in_channels": cols[1].number_input(
            _("Input channels"),
            value=float(config.in_channels),
            step=1.0,
            format="%g",
            key=f"arch_channels_{version}",
        ),
        "num_classes": cols[2].number_input(
            _("Classes"),
            value=float(config.num_classes),
            step=1.0,
            format="%g",
            key=f"arch_classes_{version}",
        ),
        "aux_logits": cols[3].toggle(
            _("Auxiliary heads"),
            value=config.aux_logits,
            disabled=not config.aux_heads,
            help=_aux_help(config),
            key=f"arch_aux_{version}",
        ),
    }


def _aux_help(config: GoogLeNetConfig) -> str:
    if not config.aux_heads:
        return _("train with the auxiliary classifiers (after no block)")
    return _("train with the auxiliary classifiers (after {blocks})").format(
        blocks=", ".join(h.after for h in config.aux_heads)
    )


def _blocks_key() -> str:
    return f"arch_blocks_{config_version()}"


def blocks_ui(config: GoogLeNetConfig) -> pd.DataFrame:
    st.markdown(
        _(
            "One row per Inception block, as in the paper's Table 1: edit the six channel "
            "numbers. The table under it follows each accepted edit."
        )
    )
    headers = block_column_config()
    frame = blocks_frame(config)
    frame[list(CHANNEL_FIELDS)] = frame[list(CHANNEL_FIELDS)].astype("float64")  # see above
    # The computed columns travel with the editor's data but are shown in a table of their
    # own: all twelve side by side scrolled sideways at 1280 px, hiding the costs.
    edited: pd.DataFrame = st.data_editor(
        frame,
        hide_index=True,
        num_rows="fixed",
        disabled=["name", *COMPUTED_COLUMNS],
        column_config=headers,
        column_order=("name", *CHANNEL_FIELDS),
        key=_blocks_key(),
    )
    st.dataframe(
        frame[["name", *COMPUTED_COLUMNS]],
        hide_index=True,
        column_config=headers,
        key="arch_computed",
    )
    return edited


def edits_ui(config: GoogLeNetConfig, blocks: pd.DataFrame, settings: dict[str, Any]) -> None:
    """Apply what the table and the settings now say, if anything changed.

    The settings and the table are tried together, then each alone: a bad cell must
    not take a good change of the input size down with it. Whatever is refused is
    reverted in its widget and explained.
    """
    refused = st.session_state.pop(_REFUSED, None)
    if refused:
        st.error(
            _(
                "**Not applied:** {reason}\n\nThe value was put back; the last valid "
                "network is still active."
            ).format(reason=literal(refused)),
            icon=":material/error:",
        )
    version = config_version()
    typed = bool(st.session_state.get(_blocks_key(), {}).get("edited_rows"))
    unchanged = {name: getattr(config, name) for name in settings}
    attempts = [(blocks, settings), (blocks_frame(config), settings), (blocks, unchanged)]
    first_error = None
    for table, values in attempts:
        try:
            candidate = apply_edits(config, table, **values)
        except ValueError as exc:
            first_error = first_error or str(exc)
            continue
        if candidate != config:
            _accept(candidate)
        elif first_error is None and typed and config_error():
            # A valid cell that leaves the network as it is (the old value typed back)
            # still answers the refusal: set_config is what clears the sidebar's badge.
            set_config(config)
        break
    if first_error is not None:
        _refuse(first_error)
    elif config_version() != version:
        rerun()


def structure_ui(config: GoogLeNetConfig) -> None:
    st.markdown(_("Add or remove Inception blocks; max-pools and auxiliary heads follow."))
    names = [b.name for b in config.blocks]
    cols = st.columns([2, 1, 1], vertical_alignment="bottom")
    target = cols[0].selectbox(_("Block"), names, key=f"arch_target_{config_version()}")
    if cols[1].button(_("Add a copy after it"), icon=":material/add:", key="arch_add"):
        _apply(
            lambda: add_block(config, target), _("Added a copy of {block}.").format(block=target)
        )
    if cols[2].button(_("Remove it"), icon=":material/delete:", key="arch_remove"):
        _apply(lambda: remove_block(config, target), _("Removed {block}.").format(block=target))


def json_ui(config: GoogLeNetConfig) -> None:
    left, right = st.columns(2)
    text = export_json(config)
    with left:
        st.download_button(
            _("Download this network as JSON"),
            text,
            file_name=f"googlenet-{network_name(config)}.json",
            mime="application/json",
            icon=":material/download:",
            key="arch_download",
        )
        st.download_button(
            _("Download as plain PyTorch code (.py)"),
            lambda: pytorch_source(config),
            file_name=f"googlenet_{network_name(config).replace('-', '_')}.py",
            mime="text/x-python",
            icon=":material/code:",
            key="arch_download_code",
            help=_(
                "One file that imports only torch: every channel number written out, a "
                "shape comment on each stage, the aux heads; weights trained here load into it "
                "strictly."
            ),
        )
        st.caption(
            _(
                "The CLI reads the JSON too: `python -m googlenet_core summary --config FILE`; "
                "ONNX for Netron: `python -m googlenet_core export --config FILE --format onnx "
                "-o net.onnx` (needs `pip install onnx onnxscript`)."
            )
        )
        with st.expander(_("Show the JSON"), key="arch_json"):
            st.code(text, language="json")
    with right:
        upload = st.file_uploader(
            _("Load a network from JSON"),
            type=["json"],
            max_upload_size=MAX_UPLOAD_MB,
            key=f"arch_upload_{config_version()}",
        )
        if upload is not None:
            try:
                imported = import_json(upload.getvalue())
            except ValueError as exc:
                reject_edit(_("{file}: {error}").format(file=upload.name, error=exc))
            else:
                _apply(lambda: imported, _("Loaded {file}.").format(file=literal(upload.name, 80)))


def main() -> None:
    config = current_config()
    st.title(_("Architect"))
    history_ui(config)
    totals_ui(config)
    preset_ui(config)
    st.subheader(_("Network settings"))
    settings = settings_ui(config)
    # A refused setting or cell is explained here, between the settings and the table.
    messages = st.container()
    # "heading": the Concepts page's metric of the same words counts the blocks.
    st.subheader(pgettext("heading", "Inception blocks"))
    blocks = blocks_ui(config)
    with messages:
        edits_ui(config, blocks, settings)
    structure_ui(config)
    st.subheader(_("Save and share"))
    json_ui(config)


run_page("Architect", main)
