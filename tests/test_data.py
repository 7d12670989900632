"""Data sets: the digits split, preprocessing, batching, downloads, folders and zips."""

from __future__ import annotations

import hashlib
import io
import socket
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from googlenet_core.data import DatasetError, downloads, folders, transforms
from googlenet_core.data.batches import batch_indices, model_batch
from googlenet_core.data.datasets import TrainingData, load_dataset, split_sizes
from googlenet_core.data.digits import load_digits
from googlenet_core.data.folders import Limits
from googlenet_core.data.transforms import Preprocessing
from googlenet_core.inference.predictor import ResizeNormalize


@pytest.fixture(scope="module")
def digits32() -> TrainingData:
    return load_dataset("digits", input_size=32, in_channels=1)


# ---- the bundled digits --------------------------------------------------------------------


def test_digits_hold_out_a_fixed_fifth(digits32) -> None:
    assert (len(digits32.train), len(digits32.val)) == (3058, 765)
    assert split_sizes("digits", None) == (3058, 765)
    again = load_dataset("digits", input_size=32, in_channels=1)
    assert torch.equal(again.val.labels, digits32.val.labels)  # the same held-out images
    # Every class is represented on both sides.
    assert set(digits32.val.labels.tolist()) == set(range(10))
    # Decoded once at the input size: floats in [0, 1].
    assert digits32.train.images.shape == (3058, 1, 32, 32)
    assert digits32.train.images.dtype == torch.float32
    assert float(digits32.train.images.min()) >= 0.0
    assert float(digits32.train.images.max()) <= 1.0
    assert digits32.class_names == tuple("0123456789")


def test_training_and_validation_images_do_not_overlap(digits32) -> None:
    images, _ = load_digits()
    flat = {row.tobytes() for row in images.reshape(len(images), -1)}
    assert len(flat) > 3700  # nearly all digits are distinct to begin with
    train = {tuple(x.flatten().tolist()) for x in digits32.train.images[:, :, ::4, ::4]}
    val = {tuple(x.flatten().tolist()) for x in digits32.val.images[:, :, ::4, ::4]}
    assert len(train & val) < 10  # only true duplicates in the source data coincide


def test_subset_caps_training_and_validation(digits32) -> None:
    small = load_dataset("digits", input_size=16, in_channels=3, subset=100)
    assert (len(small.train), len(small.val)) == (100, 64)
    assert split_sizes("digits", 100) == (100, 64)
    assert split_sizes("fashionmnist", 1000) == (1000, 250)
    assert small.train.images.shape[1:] == (3, 16, 16)
    assert len(small.mean) == 3 and small.mean[0] == small.mean[1]


def test_a_digit_png_reaches_the_network_as_its_training_sample(digits32) -> None:
    """Prediction's preprocessing of a saved digit equals the training batch's, bit for bit."""
    images, _ = load_digits()
    prep = ResizeNormalize(Preprocessing(32, 1, digits32.mean, digits32.std))
    for i in range(5):
        png = Image.open(io.BytesIO(_png(images[i])))
        training = transforms.to_model_input(
            torch.from_numpy(images[i : i + 1].copy()).unsqueeze(1), digits32.preprocessing
        )
        assert torch.equal(prep(png), training[0])


def test_rgb_to_gray_matches_pillow() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(2, 9, 7, 3), dtype=np.uint8)
    ours = transforms.convert_channels(torch.from_numpy(rgb).permute(0, 3, 1, 2), 1)[:, 0].numpy()
    pillow = np.stack([np.asarray(Image.fromarray(im, "RGB").convert("L")) for im in rgb])
    assert np.array_equal(ours, pillow)
    gray = torch.from_numpy(pillow).unsqueeze(1)
    assert torch.equal(transforms.convert_channels(gray, 3)[:, 2], gray[:, 0])
    with pytest.raises(DatasetError, match="only grayscale"):
        transforms.convert_channels(gray, 2)


# ---- batches -------------------------------------------------------------------------------


def test_batches_cover_every_image_once_per_epoch() -> None:
    g = torch.Generator().manual_seed(0)
    batches = batch_indices(103, 10, g)
    seen = torch.cat(batches)
    assert sorted(seen.tolist()) == list(range(103)) and len(batches) == 11
    # A last batch of one image is dropped: BatchNorm cannot normalise it.
    assert [len(b) for b in batch_indices(21, 10, g)] == [10, 10]


def test_ranks_get_disjoint_equal_shares() -> None:
    shares = [
        torch.cat(batch_indices(50, 5, torch.Generator().manual_seed(3), rank=r, world_size=2))
        for r in (0, 1)
    ]
    assert len(shares[0]) == len(shares[1]) == 25
    assert not set(shares[0].tolist()) & set(shares[1].tolist())


def test_augmentation_is_seeded_and_keeps_shapes(digits32) -> None:
    x = digits32.train.images[:16]
    a = transforms.augment(x, torch.Generator().manual_seed(1), hflip=False)
    b = transforms.augment(x, torch.Generator().manual_seed(1), hflip=False)
    c = transforms.augment(x, torch.Generator().manual_seed(2), hflip=True)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)
    # Small moves: the augmented digit still overlaps the original.
    assert float((a * x).sum()) > 0.5 * float((x * x).sum())


def test_the_digits_style_slants_and_widens_but_does_not_move_or_mirror(digits32) -> None:
    """The digits' augmentation (every digit is cropped and stretched alike, so position never
    varies): seeded, the ink's centre stays within the 3 % shift, never mirrored; the photo
    style draws what it drew before the styles existed."""
    assert digits32.augment_style == "digits"
    x = digits32.train.images[:64]
    a = transforms.augment(x, torch.Generator().manual_seed(1), hflip=True, style="digits")
    b = transforms.augment(x, torch.Generator().manual_seed(1), hflip=False, style="digits")
    assert torch.equal(a, b) and not torch.equal(a, x)  # hflip ignored: no mirror

    def centre_x(images: torch.Tensor) -> torch.Tensor:
        columns = torch.arange(images.shape[-1], dtype=images.dtype)
        mass = images.sum(dim=(1, 2))
        return (images.sum(dim=(1, 2)) * columns).sum(-1) / mass.sum(-1)

    moved = (centre_x(a) - centre_x(x)).abs()
    assert float(moved.max()) <= 0.03 * 32 + 1.0  # the shift, plus a shear's rounding
    photo = transforms.augment(x, torch.Generator().manual_seed(1), hflip=False)
    assert float((centre_x(photo) - centre_x(x)).abs().max()) > float(moved.max())
    zero = transforms.augment(x, torch.Generator().manual_seed(1), hflip=False, strength=0.0,
                              style="digits")  # fmt: skip
    assert torch.allclose(zero, x, atol=1e-5)


def test_model_batch_normalises_and_uses_channels_last(digits32) -> None:
    index = torch.arange(32)
    x, y = model_batch(digits32.train, index, digits32.preprocessing, channels_last=True)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, digits32.train.labels[:32])
    expected = transforms.normalize(digits32.train.images[:32], digits32.mean, digits32.std)
    assert torch.allclose(x, expected)


def test_large_sets_stay_uint8_and_resize_per_batch() -> None:
    images = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    resident = transforms.make_resident(images, 32, budget=10 * 32 * 32 * 4)
    assert resident.dtype == torch.float32 and resident.shape[-1] == 32
    native = transforms.make_resident(images, 32, budget=1000)
    assert native.dtype == torch.uint8 and native.shape[-1] == 8
    assert torch.equal(transforms.to_unit(native, 32), resident)


# ---- downloads -----------------------------------------------------------------------------


def _online(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 80)
        return True
    except OSError:
        return False


def test_offline_download_names_the_built_in_dataset(tmp_path) -> None:
    if _online("fashion-mnist.s3-website.eu-central-1.amazonaws.com"):
        pytest.skip("this machine is online: the offline message cannot be observed")
    with pytest.raises(DatasetError, match="train on the built-in dataset 'digits'"):
        load_dataset("fashionmnist", input_size=32, in_channels=1, cache_dir=tmp_path)


def test_download_reports_progress_and_checks_the_checksum(tmp_path) -> None:
    payload = bytes(range(256)) * 1000
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    seen: list[tuple[int, int | None]] = []
    target = tmp_path / "cache" / "file.bin"
    md5 = hashlib.md5(payload).hexdigest()
    downloads.fetch(source.as_uri(), target, md5, lambda d, t, _: seen.append((d, t)), "x")
    assert target.read_bytes() == payload
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload))
    with pytest.raises(DatasetError, match="checksum"):
        downloads.fetch(source.as_uri(), tmp_path / "bad.bin", "0" * 32, None, "x")
    assert not (tmp_path / "bad.bin").exists()


def _idx(array: np.ndarray) -> bytes:
    """The IDX format MNIST and Fashion-MNIST are distributed in."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def test_a_cached_fashion_mnist_is_read_without_the_network(tmp_path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 12)):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28))))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n) % 10))
    got = load_dataset("fashionmnist", input_size=32, in_channels=1, cache_dir=tmp_path)
    assert (len(got.train), len(got.val)) == (40, 12)
    assert got.class_names[0] == "T-shirt/top" and got.val_description.startswith("the official")
    assert got.train.images.shape == (40, 1, 32, 32)
    rgb = load_dataset("fashionmnist", input_size=28, in_channels=3, cache_dir=tmp_path, subset=8)
    assert rgb.train.images.shape == (8, 3, 28, 28)


# ---- your own images -----------------------------------------------------------------------


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _digit_folder(root: Path, per_class: int = 4, classes: str = "012") -> Path:
    images, labels = load_digits()
    for c in classes:
        folder = root / c
        folder.mkdir(parents=True)
        picks = np.flatnonzero(labels == int(c))[:per_class]
        for i in picks:
            (folder / f"{i:05d}.png").write_bytes(_png(images[i]))
    return root


def test_a_folder_of_class_subfolders(tmp_path) -> None:
    root = _digit_folder(tmp_path / "digits")
    (root / "0" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("a file outside the class folders")
    got = load_dataset("folder", input_size=32, in_channels=1, path=root)
    assert got.class_names == ("0", "1", "2")
    assert len(got.train) + len(got.val) == 12 and len(got.val) >= 1
    assert got.skipped == {"not an image": 1, "outside a class folder": 1}
    assert folders.describe_skipped(got.skipped) == "1 not an image, 1 outside a class folder"


def test_digit_pngs_in_folders_equal_the_bundled_digits(tmp_path, digits32) -> None:
    """Saved as PNGs, the bundled digits come back as exactly the same tensors."""
    images, labels = load_digits()
    root = _digit_folder(tmp_path / "d", per_class=3, classes="0123456789")
    found = folders.read_labelled_images(root, input_size=32, in_channels=1)
    first = {c: int(np.flatnonzero(labels == c)[0]) for c in range(10)}
    bundled = transforms.to_unit(
        torch.from_numpy(images[list(first.values())].copy()).unsqueeze(1), 32
    )
    picked = torch.stack([found.images[found.labels.tolist().index(c)] for c in range(10)])
    # read_labelled_images sorts files by name, so each class's first file is the lowest index.
    assert torch.equal(picked, bundled)


def test_a_folder_needs_two_classes(tmp_path) -> None:
    root = _digit_folder(tmp_path / "one", classes="7")
    with pytest.raises(DatasetError, match="at least two class subfolders.*'7'"):
        load_dataset("folder", input_size=32, in_channels=1, path=root)
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset("folder", input_size=32, in_channels=1, path=tmp_path / "missing")


def test_folder_caps(tmp_path) -> None:
    root = _digit_folder(tmp_path / "d", per_class=4)
    with pytest.raises(DatasetError, match="more than 5 files"):
        load_dataset("folder", input_size=32, in_channels=1, path=root,
                     limits=Limits(max_images=5))  # fmt: skip
    with pytest.raises(DatasetError, match="need .* MB in memory"):
        load_dataset("folder", input_size=256, in_channels=3, path=root,
                     limits=Limits(max_resident_bytes=2**20))  # fmt: skip
    with pytest.raises(DatasetError, match=r"found none \(skipped: 12 file too large\)"):
        load_dataset("folder", input_size=32, in_channels=1, path=root,
                     limits=Limits(max_file_bytes=10))  # fmt: skip


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, payload in entries.items():
            zf.writestr(name, payload)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _digit_entries(prefix: str = "") -> dict[str, bytes]:
    images, labels = load_digits()
    entries = {}
    for c in "01":
        for i in np.flatnonzero(labels == int(c))[:3]:
            entries[f"{prefix}{c}/{i}.png"] = _png(images[i])
    return entries


@pytest.mark.parametrize("prefix", ["", "my-digits/"])
def test_an_uploaded_zip_is_read_in_memory(prefix) -> None:
    entries = _digit_entries(prefix)
    entries[f"{prefix}1/not-an-image.png"] = b"hello"
    entries["__MACOSX/._junk"] = b"resource fork"
    got = load_dataset("upload", input_size=32, in_channels=1, archive=_zip(entries))
    assert got.class_names == ("0", "1") and len(got.train) + len(got.val) == 6
    assert got.skipped == {"not an image": 1}


@pytest.mark.parametrize(
    "bad", ["../escape.png", "0/../../escape.png", "/etc/escape.png", "C:/escape.png"]
)
def test_a_zip_entry_outside_the_archive_refuses_the_zip(bad) -> None:
    entries = _digit_entries()
    entries[bad] = b"x"
    with pytest.raises(DatasetError, match="points outside the archive"):
        load_dataset("upload", input_size=32, in_channels=1, archive=_zip(entries))


def test_zip_links_sizes_and_garbage_are_refused() -> None:
    with pytest.raises(DatasetError, match="symbolic link"):
        folders.read_labelled_images(archive=_zip(_digit_entries(), links=("0/link.png",)),
                                  input_size=32, in_channels=1)  # fmt: skip
    archive = _zip(_digit_entries())
    with pytest.raises(DatasetError, match="the zip is .* MB; the limit is 0 MB"):
        folders.read_labelled_images(archive=archive, input_size=32, in_channels=1,
                                  limits=Limits(max_zip_bytes=100))  # fmt: skip
    with pytest.raises(DatasetError, match="unpacks to"):
        folders.read_labelled_images(archive=archive, input_size=32, in_channels=1,
                                  limits=Limits(max_total_bytes=100))  # fmt: skip
    with pytest.raises(DatasetError, match="not a readable zip"):
        folders.read_labelled_images(archive=b"PK\x03\x04 garbage", input_size=32, in_channels=1)


def test_a_corrupt_zip_entry_is_skipped_and_counted() -> None:
    """A bad CRC or an unsupported compression method loses one file, not the whole zip."""
    entries = _digit_entries()
    entries["1/broken.png"] = b"\x89PNG" + b"A" * 400
    archive = bytearray(_zip(entries))
    start = archive.find(b"A" * 400)
    archive[start + 10] ^= 0xFF  # the stored bytes no longer match their CRC-32
    for damaged in (bytes(archive), _with_method(bytes(archive), "1/broken.png", 99)):
        got = folders.read_labelled_images(archive=damaged, input_size=32, in_channels=1)
        assert got.skipped == {"unreadable zip entry": 1} and len(got.labels) == 6


def _with_method(archive: bytes, name: str, method: int) -> bytes:
    """The archive with one entry's compression method set to ``method`` in both headers."""
    data = bytearray(archive)
    encoded = name.encode()
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = 0
        while (at := data.find(signature, at)) != -1:
            header = 30 if signature == b"PK\x03\x04" else 46
            if data[at + header : at + header + len(encoded)] == encoded:
                data[at + offset : at + offset + 2] = method.to_bytes(2, "little")
            at += 4
    return bytes(data)


def test_the_classes_of_a_folder_come_from_its_listing(tmp_path) -> None:
    root = _digit_folder(tmp_path / "digits", classes="012")
    (root / "3").mkdir()
    (root / "3" / "notes.txt").write_text("a class folder whose only file is not an image")
    assert folders.list_classes(root) == ("0", "1", "2", "3")
    planned = folders.read_labelled_images(
        root, input_size=16, in_channels=1, class_names=("0", "1", "2", "3")
    )
    assert planned.classes == ("0", "1", "2", "3") and planned.skipped == {"not an image": 1}
    found = folders.read_labelled_images(root, input_size=16, in_channels=1)
    assert found.classes == ("0", "1", "2")  # unplanned: the classes with images
    with pytest.raises(DatasetError, match="appeared after the run was planned"):
        folders.read_labelled_images(root, input_size=16, in_channels=1, class_names=("0", "1"))


def _tar(tmp_path: Path, *members: tuple[str, bytes | None, str | None]) -> Path:
    """A .tar.gz of (name, file bytes or None for a folder, symlink target or None)."""
    import tarfile

    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("has_filter", [True, False])
def test_archives_extract_inside_the_cache_with_or_without_pythons_data_filter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, has_filter: bool
) -> None:
    import tarfile

    from googlenet_core.data.downloads import extract_tar

    if not has_filter:  # Debian 12's Python 3.11.2: no filter= argument, no data_filter
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = _tar(tmp_path, ("batches", None, None), ("batches/data_1", b"abc", None))
    root = tmp_path / "cache"
    root.mkdir()
    with tarfile.open(good) as tar:
        extract_tar(tar, root)
    assert (root / "batches" / "data_1").read_bytes() == b"abc"
    for bad in (("../escaped", b"x", None), ("link", None, "/etc/passwd")):
        refused = pytest.raises((DatasetError, tarfile.TarError))
        with tarfile.open(_tar(tmp_path, bad)) as tar, refused:
            extract_tar(tar, root)
    assert not (tmp_path / "escaped").exists() and not (root / "link").exists()
    # An absolute name: refused here, or (Python's filter) written inside the cache.
    absolute = ("/tmp/absolute-" + tmp_path.name, b"x", None)
    with tarfile.open(_tar(tmp_path, absolute)) as tar:
        try:
            extract_tar(tar, root)
        except DatasetError:
            assert not has_filter
    assert not Path("/tmp/absolute-" + tmp_path.name).exists()
