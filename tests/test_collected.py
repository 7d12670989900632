"""Classes built from photos: names checked, photos decoded safely and kept once, bounded,
read back as the zip an upload would be, and pruned when left alone. Real image files."""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
from PIL import Image

from googlenet_core.data import collected
from googlenet_core.data.collected import Collection, prune_collections
from googlenet_core.data.datasets import load_dataset
from googlenet_core.data.folders import list_classes
from googlenet_core.i18n import use_language


def _photo(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    """A camera-like JPEG: a colour with its own noise (``colour`` seeds it)."""
    rng = np.random.default_rng(sum(c * 1000**i for i, c in enumerate(colour)))
    pixels = np.clip(rng.normal(colour, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_classes_and_photos_are_kept_and_read_back_as_an_upload(tmp_path) -> None:
    store = Collection(tmp_path / "me")
    assert store.add_class("  red   apple ") == "red apple"
    store.add_class("猫")
    for i in range(5):
        assert store.add_photo("red apple", _photo((200 + i, 10, 10))) is None
        assert store.add_photo("猫", _photo((10, 10, 200 + i))) is None
    assert store.counts() == {"red apple": 5, "猫": 5}
    # A photo is re-encoded, upright and at most STORED_SIDE px: never the uploaded bytes.
    kept = Image.open(store.classes()[0].photos[0])
    assert max(kept.size) == collected.STORED_SIDE and kept.format == "JPEG"
    assert store.problem() is None
    archive = store.archive()
    assert list_classes(archive=archive) == ("red apple", "猫")
    data = load_dataset("upload", input_size=32, in_channels=3, archive=archive)
    assert data.class_names == ("red apple", "猫")
    assert len(data.train) + len(data.val) == 10
    # Another server process (a restart) sees the same classes.
    assert Collection(tmp_path / "me").counts() == store.counts()


def test_the_same_photo_twice_is_kept_once_and_a_change_changes_the_signature(tmp_path) -> None:
    store = Collection(tmp_path)
    store.add_class("a")
    before = store.signature()
    shot = _photo((1, 2, 3))
    store.add_photo("a", shot)
    store.add_photo("a", shot)  # a rerun handing the page the same camera shot
    assert store.counts() == {"a": 1}
    assert store.signature() != before
    store.remove_photo("a", store.classes()[0].photos[0].name)
    assert store.counts() == {"a": 0}


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "Give the class a name"),
        ("x" * 41, "at most 40 characters"),
        ("../etc", "cannot contain"),
        (".hidden", "start with a dot"),
        ("a/b", "cannot contain"),
        ("tab\u0007bell", "cannot contain"),
    ],
)
def test_a_class_name_that_cannot_be_a_folder_is_refused(tmp_path, name, why) -> None:
    with pytest.raises(ValueError, match=why):
        Collection(tmp_path).add_class(name)


def test_names_are_unique_whatever_their_case_and_the_classes_are_bounded(
    tmp_path, monkeypatch
) -> None:
    store = Collection(tmp_path)
    store.add_class("Cat")
    with pytest.raises(ValueError, match="already a class called cat"):
        store.add_class("cat")
    monkeypatch.setattr(collected, "MAX_CLASSES", 2)
    store.add_class("dog")
    with pytest.raises(ValueError, match="At most 2 classes"):
        store.add_class("cow")
    with use_language("zh"), pytest.raises(ValueError, match="已经有一个叫"):
        store.add_class("DOG")


def test_a_full_class_and_a_file_that_is_no_image_get_a_sentence(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(collected, "MAX_PER_CLASS", 2)
    store = Collection(tmp_path)
    store.add_class("a")
    assert "setup.exe.jpg" in (store.add_photo("a", b"MZ\x90\x00 not a pic", "setup.exe.jpg") or "")
    assert "empty.png: the file is empty" in (store.add_photo("a", b"", "empty.png") or "")
    store.add_photo("a", _photo((1, 1, 1)))
    store.add_photo("a", _photo((2, 2, 2)))
    assert "already has 2 photos" in (store.add_photo("a", _photo((3, 3, 3))) or "")
    assert "no class called b" in (store.add_photo("b", _photo((4, 4, 4))) or "")
    assert store.counts() == {"a": 2}


def test_too_few_photos_or_classes_say_what_is_missing(tmp_path) -> None:
    store = Collection(tmp_path)
    assert "at least two classes" in (store.problem() or "")
    store.add_class("a")
    store.add_class("b")
    store.add_photo("a", _photo((9, 9, 9)))
    assert "still short: a (1), b (0)" in (store.problem() or "")


def test_a_damaged_index_is_an_empty_collection_and_removal_is_whole(tmp_path) -> None:
    store = Collection(tmp_path)
    store.add_class("a")
    store.add_photo("a", _photo((5, 5, 5)))
    folder = store.classes()[0].photos[0].parent
    store.remove_class("a")
    assert store.counts() == {} and not folder.exists()
    (tmp_path / collected.INDEX).write_text('[{"name": "x", "folder": "../../etc"}]')
    assert store.classes() == []  # a folder outside the collection is never read


def test_collections_left_alone_are_pruned(tmp_path) -> None:
    old, new = Collection(tmp_path / "old"), Collection(tmp_path / "new")
    for store in (old, new):
        store.add_class("a")
        store.add_photo("a", _photo((7, 7, 7)))
    stale = time.time() - 15 * 86400
    for path in (tmp_path / "old").rglob("*"):
        os.utime(path, (stale, stale))
    assert prune_collections(tmp_path, keep_days=14) == ["old"]
    assert not (tmp_path / "old").exists() and new.counts() == {"a": 1}


def test_a_zip_tools_name_is_refused_and_collections_are_bounded(tmp_path) -> None:
    with pytest.raises(ValueError, match="zip tools use"):
        Collection(tmp_path / "x").add_class("__MACOSX")
    for i in range(4):
        store = Collection(tmp_path / f"browser{i}")
        store.add_class("a")
        for path in (tmp_path / f"browser{i}").rglob("*"):
            os.utime(path, (1000 + i, 1000 + i))  # browser3 the most recently used
    removed = prune_collections(tmp_path, keep_days=100_000, keep=2)
    assert sorted(removed) == ["browser0", "browser1"]
