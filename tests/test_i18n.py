"""The Chinese catalog: complete, current, consistent with the glossary, chosen per context.

The catalog is read with Babel, as ``make i18n`` writes it, and the texts marked in the
code are extracted the same way; the compiled ``.mo`` the app loads is compared with a
compilation of the ``.po`` made here, so neither can fall behind the other.
"""

from __future__ import annotations

import io
import string
import subprocess
import sys
import threading
from gettext import GNUTranslations
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import ROOT

from googlenet_core.i18n import (
    LOCALE_DIR,
    N_,
    _,
    active_language,
    language_from_env,
    language_from_locale,
    ngettext,
    normalise_language,
    set_language_resolver,
    use_language,
)
from googlenet_core.i18n.glossary import GLOSSARY

PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "googlenet.po"
MO = PO.with_suffix(".mo")


def _key(message_id: str | tuple[str, ...], context: str | None) -> tuple[str | None, str]:
    singular = message_id[0] if isinstance(message_id, tuple) else message_id
    return context, singular


def _marked() -> dict[tuple[str | None, str], str]:
    """Every text marked in the code (``_``, ``N_``, ``ngettext``, ``pgettext``): where."""
    found: dict[tuple[str | None, str], str] = {}
    for line, message, _comments, context in extract_from_file(
        "python", ROOT / "app.py", keywords=DEFAULT_KEYWORDS
    ):
        found[_key(message, context)] = f"app.py:{line}"
    for folder in ("pages", "googlenet_core"):
        for name, line, message, _comments, context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=DEFAULT_KEYWORDS
        ):
            found[_key(message, context)] = f"{folder}/{name}:{line}"
    return found


def _catalog() -> Catalog:
    with PO.open("rb") as file:
        return read_po(file, locale="zh_CN")


def _entries() -> list[tuple[str, str]]:
    """(English, Chinese) of every catalog entry; a plural's singular and its one form."""
    pairs = []
    for message in _catalog():
        if not message.id:
            continue  # the header
        english = message.id[0] if isinstance(message.id, tuple) else message.id
        chinese = message.string[0] if isinstance(message.string, tuple) else message.string
        pairs.append((english, chinese or ""))
    return pairs


def _fields(text: str) -> list[str]:
    """The named placeholders of a ``str.format`` text, with their format specs."""
    try:
        return sorted(
            f"{name}:{spec}" for _text, name, spec, _conv in string.Formatter().parse(text) if name
        )
    except ValueError as exc:  # an unbalanced brace
        return [f"unparsable: {exc}"]


# ---- the catalog -----------------------------------------------------------------------------


def test_every_marked_text_has_chinese_and_nothing_is_fuzzy() -> None:
    catalog = _catalog()
    missing = []
    for (context, english), where in sorted(_marked().items(), key=lambda kv: kv[1]):
        entry = catalog.get(english, context=context)
        chinese = None if entry is None else entry.string
        if isinstance(chinese, tuple):
            chinese = chinese[0]
        if entry is None or not chinese:
            missing.append(f"{where}: no Chinese for {english!r}")
        elif entry.fuzzy:
            missing.append(f"{where}: a fuzzy (unchecked) Chinese for {english!r}")
    assert not missing, f"{len(missing)} texts; run `make i18n` and translate:\n" + "\n".join(
        missing[:40]
    )


def test_the_catalog_itself_is_not_fuzzy_and_chinese_has_one_plural_form() -> None:
    catalog = _catalog()
    assert not catalog.fuzzy  # pybabel compile skips a fuzzy catalog: the app would be English
    assert catalog.num_plurals == 1


def test_the_catalog_holds_no_text_the_code_no_longer_has() -> None:
    marked = _marked()
    stale = [
        english
        for message in _catalog()
        if message.id
        and _key(message.id, message.context) not in marked
        and (english := message.id[0] if isinstance(message.id, tuple) else message.id)
    ]
    assert not stale, "run `make i18n`; gone from the code:\n" + "\n".join(stale[:20])


def test_the_compiled_catalog_is_the_catalog() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _catalog())
    compiled.seek(0)
    fresh = GNUTranslations(compiled)
    with MO.open("rb") as file:
        shipped = GNUTranslations(file)
    assert shipped._catalog == fresh._catalog, "the .mo is stale: run `make i18n`"  # type: ignore[attr-defined]
    assert shipped.plural(1) == shipped.plural(5) == 0  # Chinese: one form for every count


def test_placeholders_are_named_and_the_same_in_both_languages() -> None:
    wrong = []
    for english, chinese in _entries():
        positional = [
            name
            for _text, name, _spec, _conv in string.Formatter().parse(english)
            if name is not None and (name == "" or name.isdigit())
        ]
        if positional:
            wrong.append(f"positional placeholder in {english!r}")
        if _fields(english) != _fields(chinese):
            wrong.append(f"{english!r} -> {chinese!r}")
    assert not wrong, "\n".join(wrong)


def test_every_chinese_text_says_each_term_as_the_glossary_does() -> None:
    entries = _entries()
    wrong = []
    for english, chinese in entries:
        for term in GLOSSARY:
            if term.in_english(english) and term.chinese not in chinese:
                wrong.append(f"{term.english} -> {term.chinese}, not in {chinese!r}")
            wrong += [f"rejected {bad!r} in {chinese!r}" for bad in term.rejected if bad in chinese]
    assert not wrong, "\n".join(wrong)
    unused = [t.chinese for t in GLOSSARY if not any(t.chinese in zh for _en, zh in entries)]
    assert not unused, f"glossary terms the app never says: {unused}"


def test_the_glossary_has_one_chinese_per_term() -> None:
    chinese = [term.chinese for term in GLOSSARY]
    assert len(set(chinese)) == len(chinese)
    for term in GLOSSARY:  # its own English is found by its pattern
        assert term.in_english(term.english.split(" (")[0]), term


# ---- the language, per context ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "language"),
    [
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh-Hans-CN", "zh"),
        ("zh_TW.UTF-8", "zh"),
        ("en-GB", "en"),
        ("EN", "en"),
        ("fr-FR", None),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_a_language_is_read_from_any_spelling(value: object, language: str | None) -> None:
    assert normalise_language(value) == language


def test_a_browser_locale_chooses_chinese_only_for_chinese() -> None:
    assert language_from_locale("zh-CN") == "zh"
    assert language_from_locale("de-DE") == "en"
    assert language_from_locale(None) == "en"


def test_the_command_line_reads_the_environment_as_gettext_does() -> None:
    assert language_from_env({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert language_from_env({"LANGUAGE": "en:zh", "LANG": "zh_CN.UTF-8"}) == "en"
    assert language_from_env({"LANGUAGE": "fr:zh_CN"}) == "zh"  # its first known language
    assert language_from_env({"LANG": "C.UTF-8"}) == "en"
    assert language_from_env({}) == "en"


def test_text_is_translated_in_the_active_language_only() -> None:
    english = "Presentation mode"  # a text of the frame's sidebar
    assert _(english) == english
    with use_language("zh"):
        assert _(english) == "演示模式"
        assert ngettext("{n} run", "{n} runs", 1) in ("{n} run", _("{n} run"))
        with use_language("en"):
            assert _(english) == english
        assert active_language() == "zh"
    assert active_language() == "en"
    assert N_(english) is english  # marked only
    with pytest.raises(ValueError, match="one of en, zh"):
        use_language("fr").__enter__()


def test_two_threads_speak_their_own_language_at_once() -> None:
    """The language lives in a context, never in the process: a class is served by one."""
    seen: dict[str, list[str]] = {"en": [], "zh": []}
    barrier = threading.Barrier(2)

    def visitor(language: str) -> None:
        with use_language(language):
            for _round in range(200):
                barrier.wait()
                seen[language].append(_("Presentation mode"))

    threads = [threading.Thread(target=visitor, args=(lang,)) for lang in ("en", "zh")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen["en"]) == {"Presentation mode"}
    assert set(seen["zh"]) == {"演示模式"}


def test_where_nothing_was_set_the_resolver_answers() -> None:
    answer = {"language": "zh"}
    set_language_resolver(lambda: answer["language"])
    try:
        assert active_language() == "zh"
        answer["language"] = "klingon"  # not spoken: English
        assert active_language() == "en"
        with use_language("en"):  # one set in the context comes first
            answer["language"] = "zh"
            assert active_language() == "en"
    finally:
        set_language_resolver(None)
    assert active_language() == "en"


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--lang", "zh", "summary", "--preset", "mini", "--input-size", "3"], {}, "zh"),
        (["summary", "--lang", "zh", "--preset", "mini", "--input-size", "3"], {}, "zh"),
        (["summary", "--preset", "mini", "--input-size", "3"], {"LANG": "zh_CN.UTF-8"}, "zh"),
        (["summary", "--preset", "mini", "--input-size", "3"], {"LANG": "C.UTF-8"}, "en"),
    ],
)
def test_the_command_line_speaks_the_language_it_is_given(
    argv: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "googlenet_core", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")  # the prefix is the terminal's convention
    chinese = any("\u4e00" <= c <= "\u9fff" for c in done.stderr)
    assert chinese == (expected == "zh"), done.stderr
    assert ("too small" in done.stderr) == (expected == "en"), done.stderr


def test_figure_text_wraps_chinese_by_its_width() -> None:
    """Plotly never wraps: a Chinese title is broken between characters, each counted two
    columns wide, and no line starts with a comma; English still breaks at spaces only."""
    from googlenet_core.figures.style import text_width, wrap

    chinese = (
        "辅助分类器在训练时为中间阶段提供额外的梯度，部署时被移除。"
        "参数量为 6.62 M，乘加运算 1.5 G。"
    )
    lines = wrap(chinese, 30).split("<br>")
    assert len(lines) > 1 and all(text_width(line) <= 30 for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)
    assert "".join(lines).replace(" ", "") == chinese.replace(" ", "")
    english = "the auxiliary heads push gradient into the middle of the network"
    assert (
        wrap(english, 20)
        == "the auxiliary heads<br>push gradient into<br>the middle of the<br>network"
    )
    assert wrap("inception4a_branch3_reduction", 10) == "inception4a_branch3_reduction"
