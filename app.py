"""GoogLeNet lab: the dashboard's frame.

Page config, the sidebar that always shows the current network, and
``st.navigation`` over the page files in ``pages/``. Run it with
``streamlit run app.py`` (or ``make run``). Each page is a thin ``main()`` over
googlenet_core; the network they share lives in ``pages/_common.py``.
"""

from __future__ import annotations

import streamlit as st

from googlenet_core import analyze
from googlenet_core.figures import format_count
from pages._common import config_error, current_config, network_label

st.set_page_config(
    page_title="GoogLeNet lab",
    page_icon=":material/hub:",
    layout="wide",
    menu_items={"About": "Design, measure and teach GoogLeNet (Szegedy et al., 2014)."},
)

# One line per page. Training and prediction pages join this list when they exist.
PAGES = [
    st.Page("pages/home.py", title="Concepts", icon=":material/school:", default=True),
    st.Page("pages/architect.py", title="Architect", icon=":material/architecture:"),
    st.Page("pages/shapes.py", title="Shapes & parameters", icon=":material/table_chart:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
]


def sidebar_summary_ui() -> None:
    """The current network at a glance, on every page."""
    config = current_config()
    analysis = analyze(config)
    label = network_label(config)
    st.markdown(f"### Current network: `{label}`")
    if analysis.aux_params:
        params_help = (
            f"{analysis.params_without_aux:,} once deployed; "
            f"{analysis.total_params:,} while training, with the auxiliary heads"
        )
    else:
        params_help = f"{analysis.total_params:,}; this network has no auxiliary heads"
    st.metric("Parameters", format_count(analysis.params_without_aux), help=params_help)
    if analysis.aux_params:
        st.caption(
            f"{format_count(analysis.aux_params)} more in the auxiliary heads (training only)"
        )
    st.metric(
        "MACs per image",
        format_count(analysis.macs_without_aux),
        help=f"{analysis.macs_without_aux:,} multiply-accumulates for one image, main head",
    )
    side = config.input_size
    st.metric("Input", f"{config.in_channels} × {side} × {side}")
    error = config_error()
    if error:
        st.badge("Last edit refused", icon=":material/warning:", color="orange")
        st.caption(error)
    st.caption("The page URL holds this design: bookmark it or send it to students.")


def main() -> None:
    page = st.navigation(PAGES)
    # Filled after the page has run, so it shows the network the page may just have changed.
    summary = st.sidebar.container()
    page.run()
    with summary:
        sidebar_summary_ui()


main()
