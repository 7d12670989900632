"""Classes built on the Train page from camera photos and image files (no zip needed).

The photos live in this browser's :class:`googlenet_core.data.collected.Collection` on
the server's disk, so a refresh or a restart loses none. One camera and one file picker
add to the class chosen above them; each class shows its count and newest photos.
"""

from __future__ import annotations

import streamlit as st

from googlenet_core.data.collected import MAX_CLASSES, MAX_PER_CLASS, MIN_PER_CLASS, Collection
from googlenet_core.data.images import MAX_IMAGE_BYTES
from googlenet_core.i18n import _
from pages.common import literal, rerun, server
from pages.common.ownership import viewer
from pages.common.text import plain

_ADDED = "collect_added"  # ids of the camera shots and files already kept (reruns repeat them)
SHOWN = 8  # newest photos shown per class


def collection() -> Collection:
    return server().collection(viewer())


def collect_ui() -> tuple[bytes | None, str | None]:
    """The class builder; the collection as a zip of class folders once it can train."""
    store = collection()
    st.caption(
        _(
            "Name a class, then add photos to it with the camera or from files; at least "
            "{minimum} per class, up to {limit}. They are kept on this server for this "
            "browser, so a refresh loses nothing."
        ).format(minimum=MIN_PER_CLASS, limit=MAX_PER_CLASS)
    )
    with st.form("collect_new_class", clear_on_submit=True, border=False):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        name = left.text_input(
            _("New class"), max_chars=40, placeholder=_("e.g. cat, cup, pen"), key="collect_name"
        )
        if right.form_submit_button(_("Add class"), icon=":material/add:", width="stretch"):
            try:
                made = store.add_class(name)
            except ValueError as exc:
                st.error(plain(exc))
            else:
                st.session_state["collect_target"] = made
    classes = store.classes()
    if not classes:
        return None, None
    names = [c.name for c in classes]
    if st.session_state.get("collect_target") not in names:
        st.session_state["collect_target"] = names[-1]
    target = st.radio(_("Add photos to"), names, key="collect_target", horizontal=True)
    added: set[str] = st.session_state.setdefault(_ADDED, set())
    if len(added) > 2 * MAX_PER_CLASS * MAX_CLASSES:  # bounded: old ids are long gone
        added.clear()
    camera, files = st.columns(2)
    folder = classes[names.index(target)].folder  # a widget per class, whatever its place
    shot = camera.camera_input(_("Take a photo"), key=f"collect_camera_{folder}")
    uploads = files.file_uploader(
        _("Or add image files"),
        type=["jpg", "jpeg", "png", "webp", "bmp", "gif"],
        accept_multiple_files=True,
        key=f"collect_files_{folder}",
        max_upload_size=max(1, MAX_IMAGE_BYTES // 2**20),
    )
    problems = []
    for item in [shot, *(uploads or [])]:
        if item is None or item.file_id in added:
            continue
        added.add(item.file_id)
        problem = store.add_photo(target, item.getvalue(), item.name)
        if problem:
            problems.append(problem)
    for problem in problems[:5]:
        st.warning(plain(problem), icon=":material/image_not_supported:")
    classes = store.classes()
    for index, c in enumerate(classes):
        with st.container(border=True):
            head, remove = st.columns([4, 1], vertical_alignment="center")
            head.markdown(_("**{name}**: {n} photos").format(name=literal(c.name), n=len(c.photos)))
            with remove.popover(_("Remove…"), icon=":material/delete:", width="stretch"):
                if c.photos and st.button(_("Remove the newest photo"), key=f"collect_pop_{index}"):
                    store.remove_photo(c.name, c.photos[-1].name)
                    rerun()
                if st.button(_("Remove this class"), type="primary", key=f"collect_drop_{index}"):
                    store.remove_class(c.name)
                    rerun()
            if c.photos:
                st.image([p.read_bytes() for p in c.photos[-SHOWN:]], width=64)
    if len(classes) >= MAX_CLASSES:
        st.caption(_("{limit} classes is the most this page keeps.").format(limit=MAX_CLASSES))
    problem = store.problem()
    if problem:
        st.info(plain(problem), icon=":material/photo_camera:")
        return None, None
    counts = store.counts()
    label = _("photos: {classes}").format(classes=", ".join(counts))[:200]
    st.success(
        _("Ready: {classes} classes, {photos} photos. Start from trained weights below to "
          "train in seconds.").format(classes=len(counts), photos=sum(counts.values())),
        icon=":material/check_circle:",
    )  # fmt: skip
    return store.archive(), label  # built each run: a few MB, never kept in the session
