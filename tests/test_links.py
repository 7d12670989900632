"""Short links: a view's query string stored under a 12-letter code, bounded, and nothing else."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from googlenet_core import get_preset
from googlenet_core.network.editing import encode_token
from googlenet_core.service import links
from googlenet_core.service.links import LinkStore, code_for, is_local, room_address, view_query

ME = "lecturer-owner-id"


def test_a_view_comes_back_whole_under_its_code(tmp_path: Path) -> None:
    store = LinkStore(tmp_path)
    config = get_preset("mini")
    view = {"net": encode_token(config), "present": "1", "concept": "gap", "calc": "32,3,1,1,0"}
    code = store.shorten(view, ME)
    assert links.CODE_PATTERN.fullmatch(code)
    assert store.expand(code) == view
    assert store.shorten(dict(reversed(view.items())), ME) == code  # same view, same code
    assert len(list(tmp_path.glob("*.txt"))) == 1


def test_only_view_parameters_are_kept(tmp_path: Path) -> None:
    """Whatever else is in the address bar (an old ?jobs= token, anything) is not stored."""
    store = LinkStore(tmp_path)
    code = store.shorten({"preset": "paper", "jobs": "secret-token", "owner": "x", "s": "a"}, ME)
    assert store.expand(code) == {"preset": "paper"}
    assert "secret" not in (tmp_path / f"{code}.txt").read_text()
    assert ME not in "".join(p.read_text() for p in tmp_path.rglob("*.txt"))  # ids hashed


@pytest.mark.parametrize(
    "code", ["", "ABCDEFGHIJKL", "../../etc/pa", "abcdefghijk", "abcdefghijkl1", "a/b/c/defghi"]
)
def test_a_malformed_code_never_reaches_the_file_system(tmp_path: Path, code: str) -> None:
    with pytest.raises(ValueError, match="12 letters"):
        LinkStore(tmp_path).expand(code)


def test_unknown_and_damaged_links_say_so(tmp_path: Path) -> None:
    store = LinkStore(tmp_path)
    with pytest.raises(ValueError, match="does not know that short link"):
        store.expand("abcdefghijkl")
    code = store.shorten({"preset": "paper"}, ME)
    (tmp_path / f"{code}.txt").write_text("preset=torchvision")
    with pytest.raises(ValueError, match="damaged"):
        store.expand(code)


def test_a_clash_never_replaces_a_stored_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever finds another view with the lecturer's code cannot redirect the QR code."""
    store = LinkStore(tmp_path)
    lecturer = store.shorten({"preset": "paper", "concept": "gap"}, ME)
    monkeypatch.setattr(links, "code_for", lambda query: lecturer)  # a found collision
    with pytest.raises(ValueError, match="taken by another view"):
        store.shorten({"preset": "mini", "concept": "deploy"}, "someone else")
    monkeypatch.undo()
    assert store.expand(lecturer) == {"preset": "paper", "concept": "gap"}


def test_the_store_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links, "MAX_LINKS", 3)
    store = LinkStore(tmp_path)
    codes = []
    for i in range(5):
        codes.append(store.shorten({"preset": "paper", "concept": str(i)}, f"visitor{i}"))
        os.utime(tmp_path / f"{codes[-1]}.txt", (1_000 + i, 1_000 + i))  # written in order
    kept = {p.stem for p in tmp_path.glob("*.txt")}
    assert kept == set(codes[2:])  # the two oldest went
    with pytest.raises(ValueError, match="over"):
        store.shorten({"net": "v1." + "a" * links.MAX_QUERY_CHARS}, ME)


def test_a_flood_never_evicts_a_link_a_class_has_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lecturer's link, made and opened, survives thousands of links made after it; when
    only opened links are left the flood is refused instead."""
    monkeypatch.setattr(links, "MAX_LINKS", 10)
    monkeypatch.setattr(links, "NEW_PER_WINDOW", 10_000)
    store = LinkStore(tmp_path)
    lecture = store.shorten({"preset": "paper", "concept": "inception"}, ME)
    assert store.expand(lecture)  # the class opens it
    made = refused = 0
    for i in range(200):
        try:
            store.shorten({"preset": "mini", "block": f"b{i}"}, f"flooder{i}")
            made += 1
        except ValueError:
            refused += 1
    assert store.expand(lecture) == {"preset": "paper", "concept": "inception"}
    assert made == 200 and len(list(tmp_path.glob("*.txt"))) == 10
    # Every other link opened too: nothing may be pruned, so new links are refused.
    for path in tmp_path.glob("*.txt"):
        store.expand(path.stem)
    with pytest.raises(ValueError, match="all of them were opened lately"):
        store.shorten({"preset": "torchvision"}, "late")
    assert store.expand(lecture)


def test_links_are_bounded_per_visitor_and_per_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LinkStore(tmp_path)
    for i in range(links.PER_VISITOR):
        store.shorten({"preset": "mini", "block": f"b{i}"}, ME)
    assert store.shorten({"preset": "mini", "block": "b0"}, ME)  # one already made: fine
    with pytest.raises(ValueError, match=f"this browser has made {links.PER_VISITOR}"):
        store.shorten({"preset": "mini", "block": "one more"}, ME)
    assert store.shorten({"preset": "mini", "block": "one more"}, "another browser")
    monkeypatch.setattr(links, "NEW_PER_WINDOW", links.PER_VISITOR + 1)  # 31 made
    with pytest.raises(ValueError, match="in the last 10 minutes"):
        store.shorten({"preset": "paper"}, "a third browser")
    for path in tmp_path.glob("*.txt"):  # the window has passed
        os.utime(path, (time.time() - links.WINDOW_S - 1,) * 2)
    assert store.shorten({"preset": "paper"}, "a third browser")


def test_codes_follow_the_query_string() -> None:
    assert code_for(view_query({"preset": "paper"})) != code_for(view_query({"preset": "mini"}))
    assert view_query({"concept": "gap", "preset": "paper"}) == "preset=paper&concept=gap"


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("[::1]", True),
        ("0.0.0.0", True),
        ("::ffff:127.0.0.1", True),
        (None, True),
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("class.example.org", False),
        ("localhost.example.org", False),
    ],
)
def test_an_address_only_this_computer_opens_is_local(host: str | None, local: bool) -> None:
    assert is_local(host) is local


def test_a_link_points_where_students_open_the_app() -> None:
    """The public address first, then Streamlit's server address, else the browser's;
    the page is kept, and the address says whether students can reach it."""
    seen = "http://localhost:8501/train"
    plain = room_address(seen)
    assert (plain.url, plain.local) == ("http://localhost:8501/train", True)
    assert room_address("http://localhost:8501/").url == "http://localhost:8501/"
    public = room_address(seen, public_url="https://class.example.org/googlenet")
    assert public.url == "https://class.example.org/googlenet/train" and not public.local
    assert public.source == "GOOGLENET_PUBLIC_URL"
    served = room_address(seen, server_address="192.168.1.20")
    assert served.url == "http://192.168.1.20:8501/train" and not served.local
    # Behind a proxy at a path: the page is what follows Streamlit's baseUrlPath.
    proxied = room_address(
        "http://127.0.0.1:8501/googlenet/shapes",
        public_url="https://x.org/g",
        base_path="googlenet",
    )
    assert proxied.url == "https://x.org/g/shapes"
    assert room_address(seen, public_url="http://localhost:9000").local  # said, not hidden
    # An IPv6 server address is bracketed; Streamlit's browser.serverPort wins when set.
    assert room_address(seen, server_address="2001:db8::5").url == "http://[2001:db8::5]:8501/train"
    assert room_address(seen, server_address="class.example.org", server_port=443).url == (
        "http://class.example.org:443/train"
    )
