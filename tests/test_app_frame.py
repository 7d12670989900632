"""The frame (app.py): sidebar summary, navigation, and the network shared through the URL."""

from __future__ import annotations

from conftest import ROOT, app_test

from googlenet_core import analyze, get_preset
from googlenet_core.figures.style import format_count
from googlenet_core.network.editing import TOKEN_PARAM, apply_edits, blocks_frame, encode_token
from pages.common import PAGES


def _sidebar_metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.sidebar.metric}


def test_frame_renders_the_default_network_from_an_empty_session() -> None:
    at = app_test("app.py").run()
    assert not at.exception
    assert at.title[0].value.startswith("GoogLeNet")  # the Concepts page is the default
    analysis = analyze(get_preset("paper"))
    assert "`paper`" in at.sidebar.markdown[0].value
    assert _sidebar_metrics(at) == {
        "Parameters": format_count(analysis.params_without_aux),
        "MACs per image": format_count(analysis.macs_without_aux),
        "Input": "3 × 224 × 224",
    }
    assert at.query_params == {"preset": "paper", "lang": "en"}


def test_a_preset_link_opens_that_preset() -> None:
    at = app_test("app.py", preset="mini").run()
    assert "`mini`" in at.sidebar.markdown[0].value
    assert _sidebar_metrics(at)["Input"] == "1 × 32 × 32"
    assert not at.warning


def test_a_custom_link_opens_that_design_and_keeps_it_in_the_url() -> None:
    paper = get_preset("paper")
    frame = blocks_frame(paper)
    frame.at[8, "pool_proj"] = 256
    custom = apply_edits(paper, frame, num_classes=200)
    token = encode_token(custom)
    at = app_test("app.py", **{TOKEN_PARAM: token}).run()
    assert "`custom`" in at.sidebar.markdown[0].value
    assert _sidebar_metrics(at)["Parameters"] == format_count(analyze(custom).params_without_aux)
    assert at.query_params == {TOKEN_PARAM: token, "lang": "en"}  # a refresh keeps the design
    assert not at.warning


def test_a_tampered_link_falls_back_to_the_default_with_a_notice() -> None:
    at = app_test("app.py", **{TOKEN_PARAM: "v1.eNrFlm9vqyAUxr8Lr-tampered"}).run()
    assert not at.exception
    assert len(at.warning) == 1
    assert "could not be read" in at.warning[0].value
    assert "default network (paper)" in at.warning[0].value
    assert "`paper`" in at.sidebar.markdown[0].value
    assert at.query_params == {"preset": "paper", "lang": "en"}  # the bad link is not kept


def test_an_unknown_preset_link_says_which_presets_exist() -> None:
    at = app_test("app.py", preset="resnet50").run()
    assert not at.exception
    assert "unknown preset 'resnet50'" in at.warning[0].value
    assert "paper, torchvision, mini" in at.warning[0].value


def test_the_sidebar_badges_a_refused_edit() -> None:
    at = app_test("app.py").run()
    assert not any("Last edit refused" in m.value for m in at.sidebar.markdown)
    at.session_state["config_error"] = "inception3a: ch1x1 must be between 1 and 2048, got 0"
    at.run()
    assert any("Last edit refused" in m.value for m in at.sidebar.markdown)
    assert any("got 0" in c.value for c in at.sidebar.caption)


def test_every_page_file_is_in_the_navigation_and_renders() -> None:
    """Streamlit makes every pages/*.py a page: each one is in the frame's navigation."""
    navigation = [script for script, _, _ in PAGES]
    page_files = sorted(f"pages/{path.name}" for path in (ROOT / "pages").glob("*.py"))
    assert navigation[0] == "app.py" and sorted(navigation[1:]) == page_files
    at = app_test("app.py").run()
    for script, label, _ in PAGES:
        at.switch_page(script).run()
        assert not at.exception, script
        assert at.title, script
        links = [link.proto.label for link in at.sidebar.get("page_link")]
        assert links == [label for _, label, _ in PAGES], script


def test_an_edit_on_one_page_is_seen_on_another() -> None:
    at = app_test("app.py").run()
    at.switch_page("pages/architect.py").run()
    editor = at.data_editor[0]
    at.session_state[editor.key] = {
        "edited_rows": {0: {"ch1x1": 96}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.error
    at.switch_page("pages/shapes.py").run()
    edited = at.session_state["config"]
    assert edited.blocks[0].ch1x1 == 96
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics["Parameters, all heads"] == f"{analyze(edited).total_params:,}"
    assert at.query_params == {TOKEN_PARAM: encode_token(edited), "lang": "en"}


def test_markdown_in_a_link_is_shown_as_text_not_rendered() -> None:
    """A crafted link cannot put a live link or a remote image into the app's own warning."""
    import base64
    import zlib

    payloads = {
        "preset": "[Session expired: log in again](https://evil.example/login)",
        TOKEN_PARAM: "v1."
        + base64.urlsafe_b64encode(zlib.compress(b'{"![x](https://evil.example/pixel.png)": 1}'))
        .decode()
        .rstrip("="),
    }
    for key, value in payloads.items():
        at = app_test("app.py", **{key: value}).run()
        assert not at.exception
        (warning,) = [w.value for w in at.warning]
        quoted = warning.split("`")
        assert len(quoted) == 3, warning  # the link's text sits inside one code span
        assert "evil.example" in quoted[1] and "evil.example" not in quoted[0] + quoted[2]


def test_a_second_visitor_to_a_design_reuses_what_the_first_computed(monkeypatch) -> None:
    """A class arriving at once: what depends only on the design (the analysis, any model
    built for a lesson, the Concepts page's figures) is computed by the first session and
    shared, not per session.
    (How long 30 sessions take: ``benchmarks/bench_arrival.py``.)"""
    from googlenet_core.network import model

    pages = ["app.py", "pages/architect.py", "pages/shapes.py", "pages/train.py"]
    views = [(p, {"preset": "mini"}) for p in pages] + [
        ("app.py", {"preset": "mini", "present": "1", "concept": c})
        for c in ("inception", "gradients", "deploy", "paper")
    ]
    for path, query in views:  # the lecturer's rehearsal
        assert not app_test(path, **query).run().exception
    built = []
    original = model.GoogLeNet.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(model.GoogLeNet, "__init__", counting)
    from googlenet_core.figures import lessons, network

    drawn: list[str] = []
    for module, name in ((network, "inception_block_figure"), (lessons, "naive_network_figure"),
                         (lessons, "aux_heads_figure"), (lessons, "deploy_figure")):  # fmt: skip
        real = getattr(module, name)

        def counted(*args, _real=real, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            drawn.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    misses = analyze.cache_info().misses
    for path, query in views:  # a student, then another: new sessions, the same design
        assert not app_test(path, **query).run().exception
    assert analyze.cache_info().misses == misses
    assert not built, f"{len(built)} models built again for a design already shown"
    assert not drawn, f"figures drawn again for a design already shown: {drawn}"
