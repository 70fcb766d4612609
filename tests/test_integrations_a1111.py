"""AUTOMATIC1111 / Forge: the extension labels each saved image and keeps the web UI's text.

The web UI is not installed here. Its ``modules.script_callbacks`` and ``modules.shared``
are stood in for, and the callback receives an object with ``ImageSaveParams``' documented
fields (``image``, ``p``, ``filename``, ``pnginfo``) after the file was written the way the
web UI writes it (PNG text chunks; EXIF UserComment for JPEG).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from synthmark import __version__
from synthmark.integrations import LabellingFailed
from synthmark.integrations.a1111 import A1111Options, ImageSavedHandler
from synthmark.labels.containers import extract_blocks
from synthmark.labels.exif import TAG_EXIF_IFD, TAG_USER_COMMENT, encode_user_comment, read_exif
from synthmark.registry import open_registry
from synthmark.settings import Settings
from tests.test_integrations_common import (
    assert_labelled,
    assert_stripped_copy_found,
    texture,
)

pytestmark = pytest.mark.timeout(300)
EXTENSION = Path(__file__).resolve().parents[1] / "integrations" / "a1111"

#: An infotext as the web UI writes it: quoted values, labels the parser would rename.
INFOTEXT = (
    "a photo of a cat, (masterpiece:1.2)\n"
    "Negative prompt: lowres, blurry\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, "
    "Size: 256x256, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, ENSD: 31337, "
    'Lora hashes: "add_detail: 7c6bad76eb54", TI hashes: "easynegative: c74b4e810b03", '
    "Version: v1.10.1"
)


def processing(**fields: Any) -> SimpleNamespace:
    """A stand-in for StableDiffusionProcessing with the fields the web UI sets."""
    p = SimpleNamespace(
        prompt="a photo of a cat", negative_prompt="lowres", seed=1234567890,
        seeds=[1234567890], prompts=["a photo of a cat"], steps=20, cfg_scale=7.0,
        sampler_name="DPM++ 2M", scheduler="Karras", width=256, height=256,
        sd_model_name="v1-5-pruned-emaonly", sd_model_hash="6ce0161689", batch_index=0,
        iteration=0, batch_size=1,
    )
    p.__dict__.update(fields)
    return p


def saved(folder: Path, name: str, image: Image.Image, pnginfo: dict[str, str],
          p: Any = None) -> SimpleNamespace:
    """Write ``image`` as the web UI's ``save_image`` does, then give the callback's params."""
    path = folder / name
    if path.suffix == ".png":
        info = PngImagePlugin.PngInfo()
        for key, value in pnginfo.items():
            info.add_text(key, str(value))
        image.save(path, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif.get_ifd(TAG_EXIF_IFD)[TAG_USER_COMMENT] = encode_user_comment(
            pnginfo.get("parameters", "")
        )
        image.save(path, format="JPEG" if path.suffix == ".jpg" else None, quality=90, exif=exif)
    return SimpleNamespace(image=image, p=p, filename=str(path), pnginfo=pnginfo)


def load_extension(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Any]:
    """Import ``scripts/synthmark_label.py`` as the web UI does, with its modules stood in."""
    registered: dict[str, Any] = {}

    def register(kind: str) -> Any:
        def add(callback: Any, *, name: str | None = None) -> None:
            registered[kind] = (callback, name)
        return add

    class OptionInfo:
        def __init__(self, default: Any = None, label: str = "", section: Any = None) -> None:
            self.default, self.label, self.section = default, label, section

    class Options(SimpleNamespace):
        def add_option(self, key: str, info: OptionInfo) -> None:
            setattr(self, key, info.default)
            registered.setdefault("options", {})[key] = info

    shared = SimpleNamespace(opts=Options(), OptionInfo=OptionInfo)
    script_callbacks = SimpleNamespace(
        on_image_saved=register("image_saved"), on_ui_settings=register("ui_settings")
    )
    modules = types.ModuleType("modules")
    modules.shared = shared  # type: ignore[attr-defined]
    modules.script_callbacks = script_callbacks  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modules", modules)
    monkeypatch.setitem(sys.modules, "modules.shared", shared)
    monkeypatch.setitem(sys.modules, "modules.script_callbacks", script_callbacks)
    path = EXTENSION / "scripts" / "synthmark_label.py"
    spec = importlib.util.spec_from_file_location("synthmark_label", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return registered, shared


def test_the_extension_registers_its_callback_and_settings(
    tmp_path: Path, synthmark_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered, shared = load_extension(monkeypatch)
    callback, name = registered["image_saved"]
    assert name == "synthmark"
    registered["ui_settings"][0]()
    options = registered["options"]
    assert {info.section for info in options.values()} == {("synthmark", "synthmark")}
    assert shared.opts.synthmark_enabled is True
    params = saved(tmp_path, "00000-1234567890.png", texture(), {"parameters": INFOTEXT},
                   processing())
    callback(params)
    assert_labelled(tmp_path / "00000-1234567890.png", synthmark_home)
    shared.opts.synthmark_enabled = False
    off = saved(tmp_path, "00001-1.png", texture(256, 1), {"parameters": INFOTEXT}, processing())
    callback(off)
    assert extract_blocks((tmp_path / "00001-1.png").read_bytes()).xmp is None  # left alone


@pytest.mark.parametrize("name", ["00002-1234567890.png", "00003-1234567890.jpg"])
def test_each_saved_image_is_labelled_in_place_keeping_the_web_uis_text(
    tmp_path: Path, synthmark_home: Path, name: str
) -> None:
    picture = texture(256, 7)
    params = saved(tmp_path, name, picture, {"parameters": INFOTEXT}, processing())
    result = ImageSavedHandler()(params)
    assert result is not None and result.path == tmp_path / name
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # replaced, nothing beside it
    record = assert_labelled(result.path, synthmark_home, result.serial)
    blocks = extract_blocks(result.path.read_bytes())
    text = blocks.text("parameters") or read_exif(blocks.exif).user_comment
    # the web UI's own text, as written, with the serial appended
    assert text == f"{INFOTEXT}, Serial: {result.serial}, Generator: synthmark {__version__}"
    assert any(g["tool"] == "AUTOMATIC1111" for g in record["generators"])
    stored = open_registry(Settings(home=synthmark_home)).get(result.serial)
    assert stored is not None and stored.model_id == "v1-5-pruned-emaonly"
    assert stored.parameters["seed"] == 1234567890
    if name.endswith(".png"):  # the picture, marked: changed, but faintly
        with Image.open(result.path) as im:
            diff = np.abs(np.asarray(im, dtype=int) - np.asarray(picture, dtype=int))
        assert diff.max() > 0 and diff.mean() < 3
        assert_stripped_copy_found(result.path, synthmark_home, tmp_path)


def test_forge_text_and_other_pnginfo_keys_are_kept(tmp_path: Path, synthmark_home: Path) -> None:
    forge = INFOTEXT.replace("Version: v1.10.1", "Version: f2.0.1v1.10.1-previous-313-g8a04293")
    info = {"parameters": forge, "extension_data": "kept"}
    params = saved(tmp_path, "00004-1.png", texture(256, 8), info, processing())
    result = ImageSavedHandler()(params)
    assert result is not None
    with Image.open(result.path) as im:
        assert im.text["parameters"].startswith(forge + ", Serial: ")
        assert im.text["extension_data"] == "kept"
    record = assert_labelled(result.path, synthmark_home, result.serial)
    assert any(g["tool"] == "Forge" for g in record["generators"])


def test_leaving_prompts_out_and_files_without_infotext(
    tmp_path: Path, synthmark_home: Path
) -> None:
    handler = ImageSavedHandler()
    params = saved(tmp_path, "00005-1.png", texture(256, 9), {"parameters": INFOTEXT}, processing())
    result = handler(params, A1111Options(leave_out_prompts=True))
    assert result is not None
    with Image.open(result.path) as im:
        assert "cat" not in im.text["parameters"] and "Seed: 1234567890" in im.text["parameters"]
    # enable_pnginfo off: the file has no text; the model and settings come from p
    bare = saved(tmp_path, "00006-77.png", texture(256, 10), {}, processing(seeds=[77]))
    result = handler(bare)
    assert result is not None
    stored = open_registry(Settings(home=synthmark_home)).get(result.serial)
    assert stored is not None and stored.model_id == "v1-5-pruned-emaonly"
    assert stored.parameters["seed"] == 77 and stored.prompt is None


def test_saves_that_are_not_generations_are_left_alone(tmp_path: Path) -> None:
    extras = saved(tmp_path, "00007.png", texture(), {"extras": "Postprocess upscaler: R-ESRGAN"})
    before = Path(extras.filename).read_bytes()
    assert ImageSavedHandler()(extras) is None  # the Extras tab: no p
    assert Path(extras.filename).read_bytes() == before


def test_a_failure_is_logged_and_the_unlabelled_file_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    small = saved(tmp_path, "00008-1.png", texture(128), {"parameters": INFOTEXT}, processing())
    with caplog.at_level(logging.ERROR), pytest.raises(LabellingFailed, match="moved to"):
        ImageSavedHandler()(small)
    assert "could NOT label" in caplog.text and "ImageTooSmall" in caplog.text
    assert not (tmp_path / "00008-1.png").exists()  # no unlabelled file where outputs are
    kept = tmp_path / "unlabelled" / "00008-1.png"
    with Image.open(kept) as im:  # the user's picture, kept
        assert np.array_equal(np.asarray(im), np.asarray(small.image))
    gif = saved(tmp_path, "00009-1.gif", texture(), {"parameters": INFOTEXT}, processing())
    with pytest.raises(LabellingFailed, match=r"cannot label format '\.gif'"):
        ImageSavedHandler()(gif)
    assert (tmp_path / "unlabelled" / "00009-1.gif").exists()


def test_opting_in_leaves_the_file_in_place_unlabelled_with_the_error_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = saved(tmp_path, "00010-1.png", texture(128), {"parameters": INFOTEXT}, processing())
    options = A1111Options.from_opts(SimpleNamespace(synthmark_keep_unlabelled=True))
    with caplog.at_level(logging.ERROR):
        assert ImageSavedHandler()(small, options) is None
    assert (tmp_path / "00010-1.png").exists() and "UNLABELLED" in caplog.text
    monkeypatch.setenv("SYNTHMARK_ON_FAILURE", "save-unlabelled")
    assert A1111Options.from_opts(SimpleNamespace()).on_failure.value == "save-unlabelled"
