"""Every page in Chinese, in the session that asked for it only; the switch keeps the view.

A page rendered in Chinese must show no sentence of the English catalog: every text of
every element (markdown, labels, help, options, tables, figures' specs) is swept for the
English of each catalog entry. The same sweep of the English page finds plenty, so it
can fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from babel.messages.pofile import read_po
from conftest import app_test, new_server
from google.protobuf.json_format import MessageToDict

from googlenet_core.i18n import LOCALE_DIR
from pages.common import PAGES
from pages.common.concepts import CONCEPTS

PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "googlenet.po"
#: Every page as a visitor opens it, and every presentation screen: (script, URL parameters).
SCREENS = [
    *((script, {}) for script, _label, _icon in PAGES),
    *(("app.py", {"present": "1", "concept": c.slug}) for c in CONCEPTS),
]
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|\*\*|`[^`]*`|\$[^$]*\$|\[|\]\([^)]*\)")


def _english_sentences() -> list[str]:
    """Pieces of the catalog's English long enough to be a sentence only English has.

    Each entry is cut at its placeholders, code spans, formulas and markdown marks; a
    piece of at least four words that the Chinese does not keep as it is (a code span,
    a name) is one to look for.
    """
    with PO.open("rb") as file:
        catalog = read_po(file)
    pieces = set()
    for message in catalog:
        if not message.id:
            continue
        english = message.id[0] if isinstance(message.id, tuple) else message.id
        chinese = message.string[0] if isinstance(message.string, tuple) else message.string
        for piece in _PLACEHOLDER.split(english):
            piece = " ".join(piece.split()).strip(" .,:;()-")
            if len(re.findall(r"[A-Za-z]{2,}", piece)) >= 4 and piece not in (chinese or ""):
                pieces.add(piece)
    return sorted(pieces)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _texts(at: Any) -> str:
    """Every string in every element and block the page drew (their protobufs), joined."""
    found: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            found.extend(_strings(MessageToDict(proto)))
        children = getattr(node, "children", None) or {}
        for child in children.values():
            walk(child)

    walk(at._tree)
    return " ".join(" ".join(text.split()) for text in found)


def _english_on(at: Any, sentences: list[str]) -> list[str]:
    texts = _texts(at)
    return [sentence for sentence in sentences if sentence in texts]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    found = _english_sentences()
    assert len(found) > 300  # the catalog's English, cut into pieces
    return found


@pytest.mark.parametrize(
    ("script", "query"), SCREENS, ids=[f"{s}-{q.get('concept', '')}" for s, q in SCREENS]
)
def test_a_page_in_chinese_shows_no_english_sentence(
    script: str, query: dict[str, str], sentences: list[str], monkeypatch, tmp_path
) -> None:
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path / "runs"))
    chinese = app_test(script, lang="zh", **query).run()
    assert not chinese.exception
    assert not _english_on(chinese, sentences), _english_on(chinese, sentences)[:10]
    assert chinese.query_params["lang"] == "zh"
    english = app_test(script, lang="en", **query).run()
    assert len(_english_on(english, sentences)) >= 3  # the sweep finds what is there


def test_two_sessions_in_different_languages_run_after_run(monkeypatch, tmp_path) -> None:
    """One process serves a class: each session keeps its own language, run after run,
    its runs interleaved with the other's. (AppTest runs one script at a time; sessions
    at the same moment on one server: tests/test_browser_i18n.py.)"""
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path / "runs"))
    apps = {lang: app_test("pages/shapes.py", lang=lang) for lang in ("en", "zh")}
    for _round in range(3):
        for at in apps.values():
            at.run()
            assert not at.exception
    labels = {lang: [m.label for m in at.sidebar.get("metric")] for lang, at in apps.items()}
    assert "Parameters" in labels["en"] and "参数量" not in labels["en"]
    assert "参数量" in labels["zh"] and "Parameters" not in labels["zh"]


def test_the_switch_changes_the_language_and_keeps_the_design_and_view(
    monkeypatch, tmp_path
) -> None:
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path / "runs"))
    at = app_test("app.py", preset="mini", present="1", concept="gap").run()
    assert at.query_params["lang"] == "en"  # no locale in AppTest: English
    assert "Parameters" in [m.label for m in at.sidebar.get("metric")]
    at.segmented_control(key="language_sidebar_en").set_value("zh").run()
    assert not at.exception
    assert at.query_params["lang"] == "zh"
    assert at.query_params["preset"] == "mini"
    assert at.query_params["concept"] == "gap" and at.query_params["present"] == "1"
    assert "参数量" in [m.label for m in at.sidebar.get("metric")]
    at.segmented_control(key="language_sidebar_zh").set_value("en").run()
    assert at.query_params["lang"] == "en" and at.query_params["preset"] == "mini"
    assert "Parameters" in [m.label for m in at.sidebar.get("metric")]


def test_an_unknown_language_in_a_link_is_english(monkeypatch, tmp_path) -> None:
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path / "runs"))
    at = app_test("app.py", lang="<b>fr</b>").run()
    assert not at.exception
    assert at.query_params["lang"] == "en"


def test_a_short_link_carries_its_language(monkeypatch, tmp_path) -> None:
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path / "runs"))
    from pages.common import server

    code = server().links.shorten({"preset": "mini", "lang": "zh"}, "someone")
    at = app_test("app.py", s=code).run()
    assert at.query_params["lang"] == "zh" and at.query_params["preset"] == "mini"
    assert "参数量" in [m.label for m in at.sidebar.get("metric")]


def test_the_train_pages_photo_classes_and_confusion_matrix_in_chinese(
    sentences: list[str], monkeypatch, tmp_path
) -> None:
    """What the sweep above cannot reach from an empty session: classes being built from
    photos, and a finished run's per-class accuracy and confusion matrix."""
    import io

    from PIL import Image
    from tiny import tiny_config, tiny_data, tiny_train_config

    from googlenet_core.data.collected import Collection
    from googlenet_core.i18n import use_language
    from googlenet_core.service.access import owner_id
    from googlenet_core.training.runs import Run
    from googlenet_core.training.train import train
    from pages.common.ownership import _SECRET

    runs, data = tmp_path / "runs", tmp_path / "data"
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(runs), GOOGLENET_DATA_DIR=str(data))
    run = Run.create(tiny_config(), tiny_train_config(), runs)
    assert train(tiny_config(), tiny_train_config(), data=tiny_data(), run=run).status == (
        "completed"
    )
    at = app_test("pages/train.py", lang="zh").run()
    store = Collection(data / "classes" / owner_id(at.session_state[_SECRET]))
    for name, count in (("猫", 5), ("狗", 2)):
        store.add_class(name)
        for i in range(count):
            out = io.BytesIO()
            Image.new("RGB", (64, 48), (i * 40, 200 - i * 30, 90)).save(out, "PNG")
            store.add_photo(name, out.getvalue())
    with use_language("zh"):
        at.selectbox(key="train_dataset").set_value("photos").run()
    assert not at.exception
    texts = _texts(at)
    for expected in ("猫", "还不够的", "各类别：准确率与出错的图像"):
        assert expected in texts, (expected, texts[texts.find("数据集") :][:2000])
    # The figure's and table's short English (under the sweep's four words) is gone too.
    for english in ("Confusion matrix", "true class", "validation images right"):
        assert english not in texts
    assert not _english_on(at, sentences), _english_on(at, sentences)[:10]
