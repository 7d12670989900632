"""Every visitor's language: English and Simplified Chinese, chosen per session.

::

    __init__.py  the gettext functions and the active language (this module)
    glossary.py  the one glossary of the field's terms, after d2l's Chinese edition

Text a person reads goes through this module's gettext functions, and the Chinese
lives in the catalog ``googlenet_core/locale/zh_CN/LC_MESSAGES/googlenet.po``,
extracted, updated and compiled with Babel (``make i18n``; the compiled ``.mo`` is
committed so a host that only runs ``pip install -r requirements.txt`` has it, and
``tests/test_i18n.py`` fails when it is stale)::

    from googlenet_core.i18n import N_, _, ngettext

    _("Block {block}: {field} must be at least 1, not {value}.").format(
        block=spec.name, field="ch1x1", value=value)
    ngettext("{n} run", "{n} runs", n).format(n=n)

Named placeholders, never concatenation or f-strings (Babel cannot extract an f-string,
and a translator must be able to move a number within the sentence). A text defined at
import time (a module constant, a table's labels) is marked with :func:`N_` and
translated where it is shown: ``_(LABEL)``.

The language is never process-wide: one Streamlit process serves a whole class, each
session in its own language. It is held in a context variable, set by a worker process
from its job and by the command line from ``--lang`` or ``LANG``. Where none was set, a
resolver answers: the dashboard registers one that reads the session's choice
(``pages.common.language``), so a page run, a widget's callback and a fragment that
Streamlit runs on a thread of its own all speak the session's language. The catalog
follows one glossary of the field's terms (:mod:`googlenet_core.i18n.glossary`, after
the Chinese edition of d2l).
"""

from __future__ import annotations

import contextlib
import gettext
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from functools import cache
from pathlib import Path

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "N_",
    "_",
    "active_language",
    "language_from_env",
    "language_from_locale",
    "ngettext",
    "normalise_language",
    "pgettext",
    "set_language",
    "set_language_resolver",
    "use_language",
]

#: The languages the app speaks, by their URL value (``?lang=zh``).
LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
#: Each language's name in itself, for the switch.
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
#: The gettext domain and where its catalogs live.
DOMAIN = "googlenet"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
#: The catalog's locale for each language (English is the source text: no catalog).
CATALOG_LOCALE = {"zh": "zh_CN"}

_language: ContextVar[str | None] = ContextVar("googlenet_language", default=None)
_resolver: Callable[[], str | None] | None = None


def normalise_language(value: object) -> str | None:
    """``"zh"``, ``"zh-CN"``, ``"zh_Hans_CN.UTF-8"`` -> ``"zh"``; ``"en-GB"`` -> ``"en"``;
    None for anything else (a language the app does not speak, or not text)."""
    if not isinstance(value, str):
        return None
    head = value.strip().replace("_", "-").split("-")[0].split(".")[0].lower()
    return head if head in LANGUAGES else None


def language_from_locale(locale: object) -> str:
    """The language for a browser's locale (``st.context.locale``): Chinese for any
    ``zh-*``, English otherwise (also when the browser said nothing)."""
    return normalise_language(locale) or DEFAULT_LANGUAGE


def language_from_env(environ: dict[str, str] | None = None) -> str:
    """The command line's language when ``--lang`` is not given: ``LANGUAGE``,
    ``LC_ALL``, ``LC_MESSAGES`` then ``LANG``, as gettext reads them; English otherwise."""
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for part in env.get(name, "").split(":"):
            language = normalise_language(part)
            if language:
                return language
    return DEFAULT_LANGUAGE


def active_language() -> str:
    """The language of this session, job or command (``"en"`` or ``"zh"``): the one set in
    this context, else the resolver's answer, else English."""
    language = _language.get()
    if language is None and _resolver is not None:
        language = _resolver()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def set_language_resolver(resolver: Callable[[], str | None] | None) -> None:
    """Where no language was set in this context, ask ``resolver`` (the dashboard's: the
    session's choice). It must be cheap and answer per session, never one global value."""
    global _resolver
    _resolver = resolver


def set_language(language: str) -> Token[str | None]:
    """Make ``language`` active in this context (a page run, a worker, a command)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return _language.set(language)


@contextlib.contextmanager
def use_language(language: str) -> Iterator[None]:
    """``with use_language("zh"): ...``: that language inside, the previous one after."""
    token = set_language(language)
    try:
        yield
    finally:
        _language.reset(token)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English: the source text itself)."""
    locale = CATALOG_LOCALE.get(language)
    if locale is None:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[locale])


def _(message: str) -> str:
    """``message`` in the active language."""
    return translations(active_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for ``n`` things (Chinese has one form, English two)."""
    return translations(active_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the active language, where the same English word needs another
    translation in another place (``pgettext("run status", "finished")``)."""
    return translations(active_language()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark a text defined at import time for the catalog; translate it where it is shown."""
    return message
