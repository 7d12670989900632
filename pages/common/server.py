"""This dashboard process's one server object, shared by every page and every session."""

from __future__ import annotations

import streamlit as st

from googlenet_core.service.server import Server


@st.cache_resource(show_spinner=False)
def server() -> Server:
    """This process's one :class:`~googlenet_core.service.server.Server`, shared by every
    session: the job queue, the run store, the short links, the probes, torch's threads."""
    return Server()
