"""Short links: a view's query string stored under an 8-letter code, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from googlenet_core import get_preset
from googlenet_core.network.editing import encode_token
from googlenet_core.service import links
from googlenet_core.service.links import code_for, expand, shorten, view_query


def test_a_view_comes_back_whole_under_its_code(tmp_path: Path) -> None:
    config = get_preset("mini")
    view = {"net": encode_token(config), "present": "1", "concept": "gap", "calc": "32,3,1,1,0"}
    code = shorten(view, tmp_path)
    assert links.CODE_PATTERN.fullmatch(code)
    assert expand(code, tmp_path) == view
    assert shorten(dict(reversed(view.items())), tmp_path) == code  # same view, same code
    assert len(list(tmp_path.iterdir())) == 1


def test_only_view_parameters_are_kept(tmp_path: Path) -> None:
    """Whatever else is in the address bar (an old ?jobs= token, anything) is not stored."""
    code = shorten({"preset": "paper", "jobs": "secret-token", "owner": "x", "s": "abc"}, tmp_path)
    assert expand(code, tmp_path) == {"preset": "paper"}
    assert "secret" not in (tmp_path / f"{code}.txt").read_text()


@pytest.mark.parametrize(
    "code", ["", "ABCDEFGHIJKL", "../../etc/pa", "abcdefghijk", "abcdefghijkl1", "a/b/c/defghi"]
)
def test_a_malformed_code_never_reaches_the_file_system(tmp_path: Path, code: str) -> None:
    with pytest.raises(ValueError, match="12 letters"):
        expand(code, tmp_path)


def test_unknown_and_damaged_links_say_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not know that short link"):
        expand("abcdefghijkl", tmp_path)
    code = shorten({"preset": "paper"}, tmp_path)
    (tmp_path / f"{code}.txt").write_text("preset=torchvision")
    with pytest.raises(ValueError, match="damaged"):
        expand(code, tmp_path)


def test_a_clash_never_replaces_a_stored_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever finds another view with the lecturer's code cannot redirect the QR code."""
    lecturer = shorten({"preset": "paper", "concept": "gap"}, tmp_path)
    monkeypatch.setattr(links, "code_for", lambda query: lecturer)  # a found collision
    with pytest.raises(ValueError, match="taken by another view"):
        shorten({"preset": "mini", "concept": "deploy"}, tmp_path)
    monkeypatch.undo()
    assert expand(lecturer, tmp_path) == {"preset": "paper", "concept": "gap"}


def test_the_store_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links, "MAX_LINKS", 3)
    codes = []
    for i in range(5):
        codes.append(shorten({"preset": "paper", "concept": str(i)}, tmp_path))
        os.utime(tmp_path / f"{codes[-1]}.txt", (1_000 + i, 1_000 + i))  # written in order
    kept = {p.stem for p in tmp_path.glob("*.txt")}
    assert kept == set(codes[2:])  # the two oldest went
    with pytest.raises(ValueError, match="over"):
        shorten({"net": "v1." + "a" * links.MAX_QUERY_CHARS}, tmp_path)


def test_codes_follow_the_query_string() -> None:
    assert code_for(view_query({"preset": "paper"})) != code_for(view_query({"preset": "mini"}))
    assert view_query({"concept": "gap", "preset": "paper"}) == "preset=paper&concept=gap"
