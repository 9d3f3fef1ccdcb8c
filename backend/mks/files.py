"""What an uploaded file is, judged from its bytes, and the form it is stored in.

Accepted: JPEG, PNG, WebP and HEIC/HEIF photos (HEIC is stored as JPEG, which every browser shows)
and PDF. Anything else, whatever its name or declared type, is refused: HTML, SVG (script), and
every other format. An image is opened header first: one whose pixel count exceeds the limit is
refused before it is decoded (a small file can decompress to gigapixels). Images are stored with
their EXIF orientation applied and, unless configured otherwise, without their GPS location.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()

# Pillow's format name → the stored format and its type.
IMAGE_FORMATS = {
    "JPEG": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "HEIF": ("JPEG", "image/jpeg"),
}
PDF_TYPE = "application/pdf"
THUMBNAIL_SIZE = (320, 320)
GPS_IFD = 0x8825  # EXIF tag of the GPS block


class RefusedFile(Exception):
    """The file is not one MKS stores; ``code`` names why (``message`` in Japanese)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StoredForm:
    """The bytes to store and what they are; for an image also its size and a JPEG thumbnail."""

    content_type: str
    data: bytes
    thumbnail: bytes | None = None
    width: int | None = None
    height: int | None = None


def _unsupported() -> RefusedFile:
    return RefusedFile(
        "unsupported_file_type",
        "対応していない種類のファイルです。写真（JPEG・PNG・WebP・HEIC）か PDF を添付してください。",
    )


def stored_form(data: bytes, *, max_pixels: int, keep_gps: bool) -> StoredForm:
    """The file as MKS stores it; RefusedFile when it is empty, of another type, or too large an image."""
    if not data:
        raise RefusedFile("empty_file", "空のファイルは添付できません。")
    if data.startswith(b"%PDF-"):
        return StoredForm(PDF_TYPE, data)
    too_large = RefusedFile("image_too_large", f"画像の画素数が多すぎます。{max_pixels:,} 画素以下に縮小してください。")
    try:
        # Pillow's own bomb check (a warning, then an error, far above our limit) is ours to make, below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS))
    except Image.DecompressionBombError:
        raise too_large from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise _unsupported() from None
    width, height = image.size
    if width * height > max_pixels:  # judged from the header: nothing was decoded yet
        raise too_large
    try:
        return _normalized(image, keep_gps)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # truncated or corrupt pixel data
        raise RefusedFile("corrupt_image", "画像を読み込めません（壊れているか途中で切れています）。") from None


def _normalized(image: Image.Image, keep_gps: bool) -> StoredForm:
    stored_format, content_type = IMAGE_FORMATS[image.format or ""]
    upright = ImageOps.exif_transpose(image)  # also drops the orientation tag it applied
    exif = upright.getexif()
    if not keep_gps and GPS_IFD in exif:
        del exif[GPS_IFD]
    if stored_format == "JPEG" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    output = io.BytesIO()
    options = {"quality": 90} if stored_format in ("JPEG", "WEBP") else {}
    upright.save(output, format=stored_format, exif=exif.tobytes(), **options)
    thumbnail = upright.convert("RGB")
    thumbnail.thumbnail(THUMBNAIL_SIZE)
    small = io.BytesIO()
    thumbnail.save(small, format="JPEG", quality=80)
    return StoredForm(content_type, output.getvalue(), small.getvalue(), upright.width, upright.height)
