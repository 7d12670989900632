"""The sanitising door: a matrix of odd files, generated here, each with its expected outcome."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from googlenet_core.data.images import MAX_IMAGE_PIXELS, normalise_mode, sanitise_image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height; the pixel data is a few bytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def rgba_with_hidden_colour() -> bytes:
    pixels = np.zeros((16, 16, 4), dtype=np.uint8)
    pixels[:, :8] = (255, 0, 0, 0)  # red, fully transparent: must not show
    pixels[:, 8:] = (0, 0, 255, 255)  # opaque blue
    return encode(Image.fromarray(pixels, "RGBA"), "PNG")


def gray16_gradient() -> bytes:
    values = np.linspace(0, 65535, 256, dtype=np.float64).round().astype(np.uint16)
    return encode(Image.fromarray(np.tile(values, (4, 1))), "PNG")


def cmyk_red_jpeg() -> bytes:
    return encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)


def exif_rotated_jpeg() -> bytes:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def palette_with_transparency() -> bytes:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 255, 0] + [200, 0, 200] + [0] * 762)
    image.paste(1, (0, 0, 4, 8))  # left half: palette entry 1 (magenta), declared transparent
    return encode(image, "PNG", transparency=1)


def gray_alpha() -> bytes:
    pixels = np.zeros((4, 4, 2), dtype=np.uint8)
    pixels[..., 0] = 30
    pixels[:2, :, 1] = 0  # top rows transparent
    pixels[2:, :, 1] = 255
    return encode(Image.fromarray(pixels, "LA"), "PNG")


def truncated_jpeg() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG", quality=90)
    return data[: len(data) // 2]


def one_bit_bmp() -> bytes:
    image = Image.new("1", (8, 8), 0)
    image.paste(1, (0, 0, 8, 4))
    return encode(image, "BMP")


def rgb(size: tuple[int, int], fmt: str) -> bytes:
    return encode(Image.new("RGB", size, (10, 200, 30)), fmt)


Check = Callable[[Image.Image], None]


def pixel(image: Image.Image, xy: tuple[int, int]) -> object:
    return image.getpixel(xy)


def close(actual: object, expected: tuple[int, ...], tol: int = 12) -> bool:
    assert isinstance(actual, tuple)
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


# name, file name, bytes, expected mode, expected size, check on the image, note fragment
ACCEPTED: list[tuple[str, str, Callable[[], bytes], str, tuple[int, int], Check, str | None]] = [
    (
        "RGBA with colour hidden under transparent pixels",
        "rgba.png",
        rgba_with_hidden_colour,
        "RGB",
        (16, 16),
        lambda im: (
            (pixel(im, (2, 2)) == (255, 255, 255) and pixel(im, (12, 2)) == (0, 0, 255))
            or pytest.fail(f"got {pixel(im, (2, 2))} / {pixel(im, (12, 2))}")
        ),
        "transparency composited",
    ),
    (
        "16-bit grayscale PNG rescaled, not clipped",
        "gray16.png",
        gray16_gradient,
        "L",
        (256, 4),
        lambda im: (
            np.array_equal(np.asarray(im)[0], np.arange(256, dtype=np.uint8))
            or pytest.fail(f"row is {np.asarray(im)[0][:8]}...")
        ),
        "rescaled to 8-bit",
    ),
    (
        "CMYK JPEG",
        "cmyk.jpg",
        cmyk_red_jpeg,
        "RGB",
        (16, 16),
        lambda im: close(pixel(im, (8, 8)), (255, 0, 0)) or pytest.fail(str(pixel(im, (8, 8)))),
        "CMYK converted",
    ),
    (
        "EXIF orientation 6",
        "phone.jpg",
        exif_rotated_jpeg,
        "RGB",
        (20, 40),  # stored 40 x 20, shown upright 20 x 40
        lambda im: (
            (close(pixel(im, (10, 5)), (255, 0, 0)) and close(pixel(im, (10, 35)), (0, 0, 255)))
            or pytest.fail(f"top {pixel(im, (10, 5))}, bottom {pixel(im, (10, 35))}")
        ),
        "EXIF orientation 6",
    ),
    (
        "animated GIF gives its first frame",
        "anim.gif",
        animated_gif,
        "RGB",
        (8, 8),
        lambda im: close(pixel(im, (4, 4)), (255, 0, 0), 0) or pytest.fail(str(pixel(im, (4, 4)))),
        "first of 3 frames",
    ),
    (
        "palette PNG with a transparent entry",
        "palette.png",
        palette_with_transparency,
        "RGB",
        (8, 8),
        lambda im: (
            (pixel(im, (1, 1)) == (255, 255, 255) and pixel(im, (6, 1)) == (0, 255, 0))
            or pytest.fail(f"{pixel(im, (1, 1))} / {pixel(im, (6, 1))}")
        ),
        "transparency composited",
    ),
    (
        "gray + alpha",
        "la.png",
        gray_alpha,
        "L",
        (4, 4),
        lambda im: (
            (pixel(im, (0, 0)) == 255 and pixel(im, (0, 3)) == 30)
            or pytest.fail(f"{pixel(im, (0, 0))} / {pixel(im, (0, 3))}")
        ),
        "transparency composited",
    ),
    (
        "1-bit BMP",
        "bits.bmp",
        one_bit_bmp,
        "L",
        (8, 8),
        lambda im: (
            (pixel(im, (0, 0)) == 255 and pixel(im, (0, 7)) == 0)
            or pytest.fail(f"{pixel(im, (0, 0))} / {pixel(im, (0, 7))}")
        ),
        "1-bit",
    ),
    (
        "1 x 1 pixel",
        "dot.png",
        lambda: rgb((1, 1), "PNG"),
        "RGB",
        (1, 1),
        lambda im: pixel(im, (0, 0)) == (10, 200, 30) or pytest.fail(str(pixel(im, (0, 0)))),
        None,
    ),
    (
        "10000 x 1 strip",
        "strip.png",
        lambda: rgb((10000, 1), "PNG"),
        "RGB",
        (10000, 1),
        lambda im: pixel(im, (9999, 0)) == (10, 200, 30) or pytest.fail("wrong colour"),
        None,
    ),
    (
        "WebP",
        "photo.webp",
        lambda: rgb((12, 10), "WEBP"),
        "RGB",
        (12, 10),
        lambda im: close(pixel(im, (5, 5)), (10, 200, 30)) or pytest.fail(str(pixel(im, (5, 5)))),
        None,
    ),
    (
        "a PNG named .jpg is read by its content",
        "really-a-png.jpg",
        lambda: rgb((5, 5), "PNG"),
        "RGB",
        (5, 5),
        lambda im: pixel(im, (0, 0)) == (10, 200, 30) or pytest.fail("wrong colour"),
        "the content is PNG although the name says JPEG",
    ),
]


@pytest.mark.parametrize(
    ("file_name", "make", "mode", "size", "check", "note"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_odd_but_valid_images_are_normalised(
    file_name: str,
    make: Callable[[], bytes],
    mode: str,
    size: tuple[int, int],
    check: Check,
    note: str | None,
) -> None:
    result = sanitise_image(make(), file_name)
    assert result.ok, result.error
    assert result.error is None
    assert result.image is not None
    assert result.image.mode == mode
    assert result.image.size == size
    check(result.image)
    if note is not None:
        assert any(note in n for n in result.notes), result.notes
    result.image.load()  # fully decoded and detached: works after the bytes are gone


# name, file name, bytes, fragment of the message
REFUSED: list[tuple[str, str, Callable[[], bytes], str]] = [
    (
        "header claims 20000 x 20000 (Pillow's bomb error)",
        "bomb.png",
        lambda: png_header_only(20000, 20000),
        "decompression bomb",
    ),
    (
        "header claims 9500 x 9500 (Pillow only warns; here an error)",
        "bomb-warning.png",
        lambda: png_header_only(9500, 9500),
        "decompression bomb",
    ),
    (
        "header claims 8000 x 6000 (under Pillow's limit, over ours)",
        "huge.png",
        lambda: png_header_only(8000, 6000),
        f"48,000,000 pixels; the limit is {MAX_IMAGE_PIXELS:,}",
    ),
    ("truncated JPEG", "half.jpg", truncated_jpeg, "JPEG file is truncated or corrupt"),
    (
        "JPEG signature, then garbage",
        "fake.jpg",
        lambda: b"\xff\xd8\xff\xe0 not really a jpeg",
        "the image header is truncated or corrupt",
    ),
    (
        "PNG cut inside its header",
        "cut.png",
        lambda: rgb((8, 8), "PNG")[:20],
        "truncated or corrupt",
    ),
    ("text file named .png", "notes.png", lambda: b"just some text\n" * 20, "not an image"),
    ("zero bytes", "empty.jpg", lambda: b"", "the file is empty"),
    (
        "TIFF is a real image but not an accepted format",
        "scan.tif",
        lambda: rgb((4, 4), "TIFF"),
        "not JPEG, PNG, WebP, BMP or GIF",
    ),
    ("random bytes", "noise.gif", lambda: bytes(range(256)) * 4, "not an image"),
]


@pytest.mark.parametrize(
    ("file_name", "make", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_bad_files_are_refused_with_a_sentence(
    file_name: str, make: Callable[[], bytes], message: str
) -> None:
    result = sanitise_image(make(), file_name)
    assert not result.ok
    assert result.image is None
    assert result.error is not None
    assert message in result.error
    assert result.name == file_name


def test_size_cap_applies_before_reading_a_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "big.png"
    path.write_bytes(rgb((64, 64), "PNG"))
    result = sanitise_image(path, max_bytes=100)
    assert result.name == "big.png"
    assert result.error is not None and "the limit is 100 bytes" in result.error
    assert sanitise_image(path).ok


def test_missing_file_is_an_error_value() -> None:
    result = sanitise_image("no/such/file.png")
    assert result.error == "cannot read the file: No such file or directory"


def test_pixel_cap_is_a_parameter() -> None:
    data = rgb((100, 100), "PNG")
    assert sanitise_image(data, max_pixels=10_000).ok
    refused = sanitise_image(data, max_pixels=9_999)
    assert refused.error is not None and "10,000 pixels" in refused.error


def test_float_images_map_0_to_1_onto_0_to_255_and_nan_to_black() -> None:
    values = np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)
    out = normalise_mode(Image.fromarray(values, "F"))
    assert out.mode == "L"
    assert np.asarray(out).tolist() == [[0, 128, 255, 0]]


def test_wide_range_integer_images_are_stretched_not_clipped() -> None:
    values = np.array([[-1000, 0, 99000]], dtype=np.int32)
    out = normalise_mode(Image.fromarray(values, "I"))
    assert np.asarray(out).tolist() == [[0, 3, 255]]


def test_16_bit_data_in_32_bit_mode_is_scaled_like_16_bit() -> None:
    values = np.array([[0, 257 * 100, 65535]], dtype=np.int32)
    assert np.asarray(normalise_mode(Image.fromarray(values, "I"))).tolist() == [[0, 100, 255]]


def test_other_modes_become_rgb_with_their_meaning() -> None:
    ycbcr = Image.new("RGB", (2, 2), (200, 30, 40)).convert("YCbCr")
    assert close(normalise_mode(ycbcr).getpixel((0, 0)), (200, 30, 40), 3)
    assert normalise_mode(Image.new("L", (2, 2))).mode == "L"
    rgba = Image.new("RGBA", (2, 2), (0, 0, 0, 128))
    assert close(normalise_mode(rgba, background=(0, 0, 0)).getpixel((0, 0)), (0, 0, 0), 0)
    assert close(normalise_mode(rgba).getpixel((0, 0)), (127, 127, 127), 1)
