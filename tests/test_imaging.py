"""The safe image loader on ordinary, awkward and hostile input."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from synthmark.imaging import (
    ImageLimits,
    atomic_write,
    atomic_writer,
    error_detail,
    expand_inputs,
    load_image,
)
from tests import hostile

pytestmark = pytest.mark.timeout(10)


def test_png_round_trip_is_exact(tmp_path: Path) -> None:
    im = hostile.photo_like()
    path = hostile.write(tmp_path / "a.png", hostile.png_bytes(im))
    loaded = load_image(path)
    assert loaded.format == "PNG"
    assert loaded.image.mode == "RGB"
    assert np.array_equal(np.asarray(loaded.image), np.asarray(im))
    assert loaded.notes == []
    assert loaded.path == path


def test_bytes_input_works_like_a_path() -> None:
    loaded = load_image(hostile.jpeg_bytes(hostile.photo_like()))
    assert loaded.format == "JPEG"
    assert loaded.path is None
    assert loaded.size == (96, 64)


def test_zero_byte_file_is_unsupported(tmp_path: Path) -> None:
    path = hostile.write(tmp_path / "empty.png", b"")
    with pytest.raises(UnsupportedImage, match="empty"):
        load_image(path)


@pytest.mark.parametrize("encode", [hostile.png_bytes, hostile.jpeg_bytes])
def test_truncated_files_are_corrupt(encode, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = hostile.truncated(encode(hostile.photo_like((256, 256))), 0.4)
    with pytest.raises(CorruptImage, match="cannot decode"):
        load_image(hostile.write(tmp_path / "cut.img", data))


def test_pixel_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge, match="limit of 80,000,000"):
        load_image(hostile.pixel_bomb_png())


def test_pixel_limit_is_configurable() -> None:
    data = hostile.png_bytes(hostile.photo_like((100, 100)))
    with pytest.raises(ImageTooLarge, match="10,000 pixels, over the limit of 9,999"):
        load_image(data, ImageLimits(max_pixels=9_999))


def test_byte_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = hostile.write(tmp_path / "big.png", hostile.png_bytes(hostile.photo_like((64, 64))))
    with pytest.raises(ImageTooLarge, match="over the limit of 100 bytes"):
        load_image(path, ImageLimits(max_bytes=100))


def test_wrong_extension_is_sniffed(tmp_path: Path) -> None:
    path = hostile.write(tmp_path / "actually_png.jpg", hostile.png_bytes(hostile.photo_like()))
    assert load_image(path).format == "PNG"


def test_text_file_is_unsupported(tmp_path: Path) -> None:
    path = hostile.write(tmp_path / "notes.png", b"hello, this is text\n" * 10)
    with pytest.raises(UnsupportedImage, match="not an image in a supported format"):
        load_image(path)


def test_cmyk_jpeg_becomes_rgb_with_a_note() -> None:
    loaded = load_image(hostile.cmyk_jpeg())
    assert loaded.original_mode == "CMYK"
    assert loaded.image.mode == "RGB"
    assert any("CMYK" in note for note in loaded.notes)


def test_16bit_png_is_scaled_not_clipped() -> None:
    loaded = load_image(hostile.png16())
    arr = np.asarray(loaded.image)
    assert loaded.image.mode == "RGB"
    assert loaded.original_mode.startswith("I")
    # The ramp spans 0..65504: scaled, it spans nearly the whole 8-bit range.
    assert arr.min() == 0 and arr.max() >= 250
    assert any("16-bit" in note for note in loaded.notes)


@pytest.mark.parametrize(("suffix", "channels"), [(".png", 3), (".png", 4), (".tif", 3)])
def test_16bit_colour_gets_a_note_like_16bit_greyscale(
    suffix: str, channels: int, tmp_path: Path
) -> None:
    import cv2

    ramp = np.linspace(0, 65535, 64 * 64 * channels).reshape(64, 64, channels)
    path = tmp_path / f"colour16{suffix}"
    assert cv2.imwrite(str(path), ramp.astype(np.uint16))
    loaded = load_image(path)
    assert loaded.image.mode == "RGB"
    assert "16-bit colour reduced to 8-bit" in loaded.notes
    eight = tmp_path / "colour8.png"
    assert cv2.imwrite(str(eight), (ramp[..., :3] / 257).astype(np.uint8))
    assert not any("bit" in note for note in load_image(eight).notes)


def test_palette_with_transparency_is_composited() -> None:
    loaded = load_image(hostile.palette_transparent_png())
    arr = np.asarray(loaded.image)
    assert tuple(arr[0, 0]) == (255, 255, 255)  # transparent index -> white
    assert tuple(arr[15, 20]) == (0, 255, 0)
    assert any("transparency" in note for note in loaded.notes)


def test_animated_gif_gives_first_frame() -> None:
    loaded = load_image(hostile.animated_gif(3))
    assert loaded.frames == 3
    assert any("first frame" in note for note in loaded.notes)
    assert np.asarray(loaded.image)[0, 0, 0] < 40  # first frame is the darkest red


def test_multi_page_tiff_is_not_called_animated() -> None:
    buf = io.BytesIO()
    pages = [Image.new("RGB", (16, 16), (i * 80, 0, 0)) for i in range(3)]
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    loaded = load_image(buf.getvalue())
    assert loaded.frames == 3
    assert "multi-page image (3 pages): first page used" in loaded.notes


def test_exif_rotation_is_applied() -> None:
    loaded = load_image(hostile.exif_rotated_jpeg(6))
    assert loaded.original_size == (80, 40)
    assert loaded.size == (40, 80)
    assert "EXIF orientation 6 applied" in loaded.notes


def test_huge_text_chunk_gives_an_image_or_a_typed_error() -> None:
    try:
        loaded = load_image(hostile.png_with_text_chunk())
    except UnsupportedImage as exc:
        assert "text" in str(exc).lower() or "decode" in str(exc)
    else:
        assert loaded.size == (32, 32)


def test_polyglot_reads_as_its_image() -> None:
    assert load_image(hostile.polyglot_png_zip()).size == (32, 32)


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedImage, match="folder"):
        load_image(tmp_path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedImage, match="no such file"):
        load_image(tmp_path / "gone.png")


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF", "BMP", "GIF", "AVIF"])
def test_other_formats_decode(fmt: str) -> None:
    buf = io.BytesIO()
    hostile.photo_like().save(buf, format=fmt)
    loaded = load_image(buf.getvalue())
    assert loaded.format == fmt
    assert loaded.size == (96, 64)


def test_expand_inputs_reports_bad_entries_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    hostile.write(tmp_path / "sub" / "b.png", hostile.png_bytes(hostile.photo_like()))
    hostile.write(tmp_path / "a.jpg", hostile.jpeg_bytes(hostile.photo_like()))
    hostile.write(tmp_path / "notes.txt", b"x")
    items = list(
        expand_inputs([str(tmp_path / "missing.png"), str(tmp_path), str(tmp_path / "*.jpg")])
    )
    assert items[0].error == "no such file or folder"
    good = [i.path.name for i in items if i.error is None]
    assert good == ["a.jpg", "b.png"]  # folder order, no duplicate from the glob, no .txt
    assert next(iter(expand_inputs([str(tmp_path / "*.gif")]))).error is not None


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    atomic_write(target, b"first")
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write(b"partial")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_atomic_write_errors_name_the_target_not_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.png"
    with pytest.raises(FileNotFoundError) as info:
        atomic_write(target, b"data")
    assert info.value.filename == str(target)
    assert ".tmp" not in str(info.value)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(OSError) as info:
        atomic_write(folder, b"data")  # the rename onto a folder fails
    assert info.value.filename == str(folder) and ".tmp" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.png"]


def test_error_detail_drops_the_leading_path(tmp_path: Path) -> None:
    path = tmp_path / "text.png"
    path.write_text("hello")
    with pytest.raises(UnsupportedImage) as info:
        load_image(path)
    assert str(info.value).startswith(f"{path}: ")
    assert error_detail(info.value, path).startswith("not an image")
    assert error_detail("other: message", path) == "other: message"


def test_atomic_write_sets_the_mode(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "secret.key", b"k", mode=0o600)
    assert os.stat(target).st_mode & 0o777 == 0o600


def test_rgba_opaque_alpha_is_dropped() -> None:
    im = Image.new("RGBA", (8, 8), (10, 20, 30, 255))
    loaded = load_image(hostile.png_bytes(im))
    assert tuple(np.asarray(loaded.image)[0, 0]) == (10, 20, 30)


def test_hostile_corpus_gives_images_or_typed_errors(tmp_path: Path) -> None:
    corpus = hostile.build_corpus(tmp_path / "corpus")
    assert len(corpus) >= 30
    for name, (path, readable) in corpus.items():
        if readable:
            loaded = load_image(path)
            assert loaded.image.mode == "RGB", name
        else:
            with pytest.raises(UnsupportedImage):
                load_image(path)
