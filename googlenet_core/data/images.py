"""The one door every image comes through: uploads, the camera, the CLI, samples.

:func:`sanitise_image` turns untrusted bytes into an upright, fully decoded,
8-bit ``"L"`` or ``"RGB"`` Pillow image, or into a sentence saying why it
could not. It never raises for a bad file, so a batch of ten with one broken
file gives nine results and one message.

- The format is sniffed from the content (``Image.open(..., formats=[...])``);
  the file name is only used to say so when it disagrees.
- ``load()`` is forced: ``verify()`` passes truncated JPEGs, decoding does not.
- Size is checked from the header before any pixel is decoded, with a cap far
  below Pillow's decompression-bomb limit, and Pillow's
  ``DecompressionBombWarning`` is turned into an error.
- Memory stays bounded by what the network needs, not by the file: given the
  side the model will see (``target_side``), JPEGs are decoded at a reduced
  scale (libjpeg's ``draft``) and any larger image is box-averaged down by a
  whole factor right after decoding, keeping at least twice that side for the
  final antialiased resize. A 40 MP photo never becomes a 40 MP float tensor.
- EXIF orientation is applied, animations give their first frame, and every
  mode is normalised by what it means: transparency is composited on a
  background (pixels hidden under alpha 0 never show), 16-bit and 32-bit
  grayscale are rescaled to 8 bits instead of clipped to white, CMYK, YCbCr,
  1-bit and float images are converted.

What the network expects (channels, size, mean/std) is the model's own
preprocessing: :mod:`.transforms`, or torchvision's for its ImageNet weights.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .._io import first_line, megabytes
from ..i18n import N_, _

ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
# Pillow warns at 89.5 M pixels and refuses at twice that; a 40 M pixel cap still takes
# every phone and most DSLR photos while bounding memory (120 MB decoded RGB).
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_BYTES = 50 * 1024 * 1024
BACKGROUND = (255, 255, 255)  # transparency is composited on white, as a viewer shows it
#: The error of a file whose content is no accepted image format (translated where it is
#: set; :mod:`.folders` compares with ``_(NOT_AN_IMAGE)`` to count such files apart).
NOT_AN_IMAGE = N_(
    "not an image: the content is not JPEG, PNG, WebP, BMP or GIF "
    "(the file name's extension is not trusted)"
)

_EXTENSION_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".gif": "GIF",
}


@dataclass(frozen=True, eq=False)
class SanitisedImage:
    """One file's outcome: an image ready for preprocessing, or the reason it is not."""

    name: str
    image: Image.Image | None = None  # 8-bit "L" or "RGB", decoded, upright, first frame
    error: str | None = None  # a sentence for the user when ``image`` is None
    format: str | None = None  # sniffed from the content: "JPEG", "PNG", ...
    original_mode: str | None = None  # Pillow's mode before normalisation, e.g. "I;16"
    original_size: tuple[int, int] | None = None  # width, height as stored (before EXIF)
    notes: tuple[str, ...] = ()  # what was done to it, for the user to read

    @property
    def ok(self) -> bool:
        return self.image is not None


def sanitise_image(
    source: bytes | str | os.PathLike[str],
    name: str | None = None,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_IMAGE_BYTES,
    background: tuple[int, int, int] = BACKGROUND,
    target_side: int | None = None,
) -> SanitisedImage:
    """Decode untrusted image bytes (or a file) into an 8-bit L/RGB image; never raises.

    ``target_side``: the side the image will be resized to; a larger image is
    decoded and kept only at about twice that (see the module docstring).
    """
    if name is None:
        name = "image" if isinstance(source, bytes) else Path(source).name
    if isinstance(source, bytes):
        data = source
    else:
        data, problem = _read_file(source, max_bytes)
        if problem:
            return SanitisedImage(name, error=problem)
    if not data:
        return SanitisedImage(name, error=_("the file is empty (0 bytes)"))
    if len(data) > max_bytes:
        return SanitisedImage(name, error=_too_big(len(data), max_bytes))
    with warnings.catch_warnings():
        # Pillow only warns between 89.5 M and 179 M pixels; here that is an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _decode(data, name, max_pixels, background, target_side)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            return SanitisedImage(
                name, error=_("refused as a decompression bomb: {reason}").format(reason=exc)
            )


def normalise_mode(
    image: Image.Image, background: tuple[int, int, int] = BACKGROUND
) -> Image.Image:
    """An 8-bit ``"L"`` or ``"RGB"`` image meaning what ``image`` means, whatever its mode."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")  # 0/1 -> 0/255
    if mode.startswith("I") or mode == "F":
        return _rescale_to_8bit(image)
    if mode == "LA" or mode == "La":
        return _composite_gray(image.convert("LA"), background)
    if mode == "P" and not _has_transparency(image):
        return image.convert("RGB")
    if mode in ("P", "PA", "RGBA", "RGBa"):
        return _composite(image.convert("RGBA"), background)
    # CMYK, YCbCr, LAB, HSV, RGBX: Pillow's converters know what the channels mean.
    return image.convert("RGB")


# ---- internals ---------------------------------------------------------------------------


def _read_file(path: str | os.PathLike[str], max_bytes: int) -> tuple[bytes, str | None]:
    """The file's bytes or a reason, checking its size before reading it."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            return b"", _too_big(size, max_bytes)
        with open(path, "rb") as fh:
            return fh.read(max_bytes + 1), None
    except OSError as exc:
        return b"", _("cannot read the file: {reason}").format(reason=exc.strerror or exc)


def _too_big(size: int, max_bytes: int) -> str:
    return _("the file is {size}; the limit is {limit}").format(
        size=megabytes(size), limit=megabytes(max_bytes)
    )


def _decode(
    data: bytes,
    name: str,
    max_pixels: int,
    background: tuple[int, int, int],
    target_side: int | None,
) -> SanitisedImage:
    try:
        image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except UnidentifiedImageError:
        return SanitisedImage(name, error=_(NOT_AN_IMAGE))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise  # reported by the caller, with Pillow's numbers
    except Exception as exc:  # noqa: BLE001 - a known signature with a broken header
        return SanitisedImage(
            name,
            error=_("the image header is truncated or corrupt: {reason}").format(
                reason=first_line(exc)
            ),
        )
    fmt = image.format or "unknown"
    width, height = image.size
    original_mode = image.mode

    def refuse(error: str) -> SanitisedImage:
        return SanitisedImage(
            name, error=error, format=fmt, original_mode=original_mode, original_size=image.size
        )

    # The header gives the size before a single pixel is decoded.
    if width * height > max_pixels:
        return refuse(
            _("the image is {width} x {height} = {pixels:,} pixels; the limit is {limit:,}").format(
                width=width, height=height, pixels=width * height, limit=max_pixels
            )
        )
    notes: list[str] = []
    claimed = _EXTENSION_FORMATS.get(Path(name).suffix.lower())
    if claimed is not None and claimed != fmt:
        notes.append(
            _("the content is {actual} although the name says {claimed}").format(
                actual=fmt, claimed=claimed
            )
        )
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(_("first of {n} frames").format(n=frames))
    if target_side is not None and fmt == "JPEG":
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale for free; never below twice the target.
        image.draft(None, (2 * target_side, 2 * target_side))
    try:
        image.load()  # a truncated or corrupt file fails here, not in open() or verify()
    except Exception as exc:  # noqa: BLE001 - plugins raise OSError, SyntaxError, ValueError...
        return refuse(
            _("the {format} file is truncated or corrupt: {reason}").format(
                format=fmt, reason=first_line(exc)
            )
        )
    orientation = _orientation(image)
    decoded: Image.Image = image
    if decoded.mode in _SHRINK_BEFORE_CONVERTING:
        decoded = _shrink(decoded, target_side)
    try:
        upright = ImageOps.exif_transpose(decoded)
    except Exception as exc:  # noqa: BLE001 - a malformed EXIF block must not lose the image
        upright = decoded
        notes.append(
            _("EXIF orientation unreadable ({reason}); shown as stored").format(
                reason=first_line(exc)
            )
        )
    else:
        if orientation not in (None, 1):
            notes.append(
                _("rotated upright from EXIF orientation {orientation}").format(
                    orientation=orientation
                )
            )
    if upright.mode not in ("L", "RGB"):
        notes.append(_mode_note(upright))
    try:
        clean = _shrink(normalise_mode(upright, background), target_side)
    except Exception as exc:  # noqa: BLE001 - e.g. a palette Pillow cannot convert
        return refuse(
            _("cannot convert a {mode} image: {reason}").format(
                mode=upright.mode, reason=first_line(exc)
            )
        )
    if clean is image:
        clean = image.copy()  # detach from the file object and its other frames
    return SanitisedImage(
        name,
        image=clean,
        format=fmt,
        original_mode=original_mode,
        original_size=(width, height),
        notes=tuple(notes),
    )


# Modes averaged down before their conversion to L/RGB. Not those with transparency: their
# hidden colours must be composited away first, not averaged into visible pixels.
_SHRINK_BEFORE_CONVERTING = frozenset({"L", "RGB", "I", "F", "CMYK", "YCbCr"})


def _shrink(image: Image.Image, target_side: int | None) -> Image.Image:
    """Box-average by a whole factor while the short side stays at least twice the target.

    Modes ``reduce`` does not take (palette, 1-bit, 16-bit) are left for after
    their conversion to L/RGB, which calls this again.
    """
    if target_side is None:
        return image
    factor = min(image.size) // (2 * target_side)
    if factor < 2:
        return image
    try:
        return image.reduce(factor)
    except ValueError:
        return image


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(0x0112)
    except Exception:  # noqa: BLE001
        return None
    return int(value) if isinstance(value, int) else None


def _has_transparency(image: Image.Image) -> bool:
    palette = image.palette
    return "transparency" in image.info or (palette is not None and palette.mode == "RGBA")


def _mode_note(image: Image.Image) -> str:
    mode = image.mode
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and _has_transparency(image)):
        return _("{mode}: transparency composited on a white background").format(mode=mode)
    if mode.startswith("I") or mode == "F":
        return _("{mode}: rescaled to 8-bit grayscale").format(mode=mode)
    if mode == "1":
        return _("1-bit: black and white as 0 and 255")
    return _("{mode} converted to RGB").format(mode=mode)


def _composite(rgba: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    # Alpha compositing, not dropping alpha: colour hidden under transparent pixels
    # (often left over from editing) must not reach the network.
    base = Image.new("RGBA", rgba.size, (*background, 255))
    return Image.alpha_composite(base, rgba).convert("RGB")


def _composite_gray(la: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    gray = round(0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2])
    base = Image.new("L", la.size, gray)
    base.paste(la.getchannel("L"), mask=la.getchannel("A"))
    return base


def _rescale_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grayscale to 8 bits, keeping the tones."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        scaled = values.astype(np.float64) / 257.0  # 0..65535 -> 0..255, no clipping
    else:
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if image.mode == "F" and lo >= 0.0 and hi <= 1.0:
            scaled = values * 255.0  # the usual float convention: 0..1
        elif lo >= 0.0 and hi <= 255.0:
            scaled = values
        elif lo >= 0.0 and hi <= 65535.0:
            scaled = values / 257.0  # 16-bit data held in a 32-bit mode ("I")
        else:
            scaled = (values - lo) * (255.0 / (hi - lo))  # anything else: stretch its range
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
