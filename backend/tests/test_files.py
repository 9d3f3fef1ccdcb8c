"""What an uploaded file is judged to be from its bytes, and the form MKS stores it in (mks.files)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from mks.files import GPS_IFD, PDF_TYPE, RefusedFile, StoredForm, stored_form

LIMIT = 50_000_000
ORIENTATION = 0x0112


def photo(size: tuple[int, int] = (400, 300), image_format: str = "JPEG", *, turned: bool = False) -> bytes:
    """A photo as a phone writes it: GPS position in its EXIF, optionally stored sideways (orientation 6)."""
    image = Image.new("RGB", size, (180, 120, 60))
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}
    if turned:
        exif[ORIENTATION] = 6  # shown rotated 90° clockwise
    output = io.BytesIO()
    image.save(output, format=image_format, exif=exif.tobytes())
    return output.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge size: a header, one empty compressed row, the end."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


TRUNCATED = photo((1200, 900))[:-4000]


def reopened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_photo_is_stored_upright_without_its_location() -> None:
    stored = stored_form(photo(turned=True), max_pixels=LIMIT, keep_gps=False)
    assert (stored.content_type, stored.width, stored.height) == ("image/jpeg", 300, 400)  # turned upright
    image = reopened(stored.data)
    assert (image.format, image.size) == ("JPEG", (300, 400))
    exif = image.getexif()
    assert GPS_IFD not in exif
    assert ORIENTATION not in exif  # applied, so no viewer turns it again
    assert reopened(stored.thumbnail or b"").size == (240, 320)


def test_the_location_is_kept_when_configured() -> None:
    stored = stored_form(photo(), max_pixels=LIMIT, keep_gps=True)
    assert reopened(stored.data).getexif().get_ifd(GPS_IFD)[1] == "N"


@pytest.mark.parametrize(("image_format", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_keep_their_format(image_format: str, content_type: str) -> None:
    stored = stored_form(photo(image_format=image_format), max_pixels=LIMIT, keep_gps=False)
    assert (stored.content_type, reopened(stored.data).format) == (content_type, image_format)
    assert GPS_IFD not in reopened(stored.data).getexif()


def test_an_iphone_heic_photo_is_stored_as_jpeg() -> None:
    heic = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 10)).save(heic, format="HEIF")
    stored = stored_form(heic.getvalue(), max_pixels=LIMIT, keep_gps=False)
    assert (stored.content_type, reopened(stored.data).format, stored.width, stored.height) == (
        "image/jpeg",
        "JPEG",
        64,
        48,
    )


def test_a_pdf_is_stored_as_sent() -> None:
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    assert stored_form(pdf, max_pixels=LIMIT, keep_gps=False) == StoredForm(PDF_TYPE, pdf)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>", "unsupported_file_type"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect width="10" height="10"/></svg>',
            "unsupported_file_type",
        ),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "unsupported_file_type"),  # a format MKS does not take
        (png_header(100_000, 100_000), "image_too_large"),  # ten gigapixels in 60 bytes: Pillow's own bomb check
        (png_header(8_000, 7_000), "image_too_large"),  # 56 megapixels: over MKS's limit, under Pillow's
        (TRUNCATED, "corrupt_image"),  # cut off in the middle of its pixels
    ],
    ids=["empty", "html-named-jpg", "svg-with-script", "gif", "gigapixels", "over-limit-pixels", "truncated"],
)
def test_hostile_and_unusable_files_are_refused(data: bytes, code: str) -> None:
    with pytest.raises(RefusedFile) as refused:
        stored_form(data, max_pixels=LIMIT, keep_gps=False)
    assert refused.value.code == code
