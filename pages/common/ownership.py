"""This browser's identity on a shared server: the owner secret and the class code.

Each browser gets a random secret the first time it opens the app, kept in a cookie
(``googlenet_owner``, a year, this site only) and never in a link: the design link
in the address bar stays safe to share, and a refresh, another tab or tomorrow's
visit in the same browser finds the same runs and may cancel them. Streamlit can
read cookies (``st.context.cookies``, sent when the page connects) but not set
them, so a one-line script sets it. A browser that refuses cookies keeps its
identity for the session (the tab) only.

The class code is the same kind of cookie (``googlenet_class``, the code's UTF-8 as
hex, so any text survives the cookie syntax). Runs started with a code are shared
with everyone who entered it; :mod:`googlenet_core.service.access` says who sees what.
"""

from __future__ import annotations

import json

import streamlit as st

from googlenet_core.service.access import (
    MAX_CLASS_CODE,
    OWNER_COOKIE,
    Viewer,
    class_id,
    new_secret,
    owner_id,
    valid_secret,
)

CLASS_COOKIE = "googlenet_class"
YEAR_S = 365 * 86_400
_SECRET = "owner_secret"
_CLASS = "class_code"
_COOKIES = "cookies_to_set"  # (name, value, max-age) written by the next write_cookies()


def viewer() -> Viewer:
    """This browser as an owner and a class member (made on the first visit)."""
    if _SECRET not in st.session_state:
        secret = st.context.cookies.get(OWNER_COOKIE)
        if not valid_secret(secret):
            secret = new_secret()
            _queue_cookie(OWNER_COOKIE, secret, YEAR_S)
        st.session_state[_SECRET] = secret
    if _CLASS not in st.session_state:
        st.session_state[_CLASS] = _class_from_cookie()
    code = st.session_state[_CLASS]
    return Viewer(owner_id(st.session_state[_SECRET]), class_id(code) if code else None)


def class_code() -> str:
    """The class code this browser entered ("" for none)."""
    viewer()
    code: str = st.session_state[_CLASS]
    return code


def set_class_code(code: str) -> None:
    """Join a class (or leave it with ""); raises ValueError for a code too long."""
    code = " ".join(code.split())
    class_id(code)  # validates
    st.session_state[_CLASS] = code
    if code:
        _queue_cookie(CLASS_COOKIE, code.encode().hex(), YEAR_S)
    else:
        _queue_cookie(CLASS_COOKIE, "", 0)


def write_cookies() -> None:
    """Set the cookies queued this run, with a script that draws nothing (call it once a run)."""
    queued = st.session_state.pop(_COOKIES, None)
    if not queued:
        return
    lines = [
        f"document.cookie = {json.dumps(f'{name}={value}')} + "
        f"'; path=/; max-age={age}; SameSite=Lax' + secure;"
        for name, value, age in queued
    ]
    # In a block of its own: a page's scripts share one global scope, and a second
    # `const secure` at the top level is a SyntaxError, so on a first visit (the owner
    # cookie's script already ran) the class cookie was never written.
    st.html(
        "<script>{const secure = location.protocol === 'https:' ? '; Secure' : '';"
        + "".join(lines)
        + "}</script>",
        unsafe_allow_javascript=True,
    )


def _queue_cookie(name: str, value: str, age: int) -> None:
    queued = [c for c in st.session_state.get(_COOKIES, []) if c[0] != name]
    st.session_state[_COOKIES] = [*queued, (name, value, age)]


def _class_from_cookie() -> str:
    raw = st.context.cookies.get(CLASS_COOKIE)
    if not isinstance(raw, str):  # absent (or AppTest, which has no cookies)
        return ""
    try:
        code = bytes.fromhex(raw).decode("utf-8")
    except ValueError:
        return ""
    code = " ".join(code.split())
    return code if len(code) <= MAX_CLASS_CODE else ""
