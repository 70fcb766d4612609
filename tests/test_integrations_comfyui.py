"""ComfyUI: the node pack loads as ComfyUI loads it, and its nodes' files pass the checks.

ComfyUI is not installed here: the nodes are called directly with IMAGE tensors of
ComfyUI's layout (``[B, H, W, C]`` floats in 0..1), ComfyUI's own modules are stood in
for where a test needs them, and the files are read back with ``inspect``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from synthmark.errors import UsageError
from synthmark.integrations import LabellingFailed
from synthmark.integrations.comfyui import LabelAndSave, Screen, graph_info
from synthmark.registry import open_registry
from synthmark.settings import Settings
from tests.test_integrations_common import (
    assert_labelled,
    assert_stripped_copy_found,
    texture,
)

pytestmark = pytest.mark.timeout(300)
PACK = Path(__file__).resolve().parents[1] / "integrations" / "comfyui"

#: An API-format prompt as ComfyUI passes it in the PROMPT hidden input (txt2img default).
PROMPT: dict[str, Any] = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 156680208700286, "steps": 20, "cfg": 8.0, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple",
          "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage",
          "inputs": {"width": 256, "height": 256, "batch_size": 2}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SynthmarkLabelAndSave", "inputs": {
        "images": ["8", 0], "filename_prefix": "synthmark", "model": "", "prompts": "keep",
        "on_failure": "error"}},
}
#: EXTRA_PNGINFO: the editor's graph (abridged).
EXTRA = {"workflow": {"last_node_id": 9, "nodes": [{"id": 9, "type": "SynthmarkLabelAndSave"}],
                      "links": [], "version": 0.4}}


def batch(*pictures: Image.Image) -> torch.Tensor:
    """IMAGE: [B, H, W, C] float32 in 0..1, as LoadImage and VAEDecode give it."""
    return torch.from_numpy(
        np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in pictures])
    )


def load_pack() -> types.ModuleType:
    """Import the folder as ComfyUI's ``load_custom_node`` does."""
    spec = importlib.util.spec_from_file_location(
        "synthmark_pack", PACK / "__init__.py", submodule_search_locations=[str(PACK)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["synthmark_pack"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["synthmark_pack"]
    return module


def test_the_folder_is_a_node_pack_with_registry_metadata() -> None:
    pack = load_pack()
    assert {"SynthmarkLabelAndSave": LabelAndSave,
                                        "SynthmarkScreen": Screen} == pack.NODE_CLASS_MAPPINGS
    assert pack.NODE_DISPLAY_NAME_MAPPINGS == {
        "SynthmarkLabelAndSave": "synthmark: Label and Save",
        "SynthmarkScreen": "synthmark: Screen",
    }
    for cls in pack.NODE_CLASS_MAPPINGS.values():
        assert cls.OUTPUT_NODE is True and callable(getattr(cls, cls.FUNCTION))
        assert isinstance(cls.RETURN_TYPES, tuple) and cls.CATEGORY == "synthmark"
    spec = LabelAndSave.INPUT_TYPES()
    assert spec["required"]["images"][0] == "IMAGE"
    assert spec["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert Screen.RETURN_TYPES == ("STRING", "STRING")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((PACK / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["name"] and project["version"].count(".") == 2
    assert project["license"] == {"text": "Apache-2.0"}
    assert project["dependencies"] == (PACK / "requirements.txt").read_text().split()
    assert any(d.startswith("synthmark") for d in project["dependencies"])
    assert meta["tool"]["comfy"]["PublisherId"]


def test_label_and_save_writes_labelled_pngs_with_comfyuis_workflow(
    tmp_path: Path, synthmark_home: Path
) -> None:
    node = LabelAndSave(output_dir=tmp_path)
    images = batch(texture(256, 1), texture(256, 2))
    shown = node.label_and_save(images, "synthmark", prompt=PROMPT, extra_pnginfo=EXTRA)
    names = [entry["filename"] for entry in shown["ui"]["images"]]
    assert names == ["synthmark_00001_.png", "synthmark_00002_.png"]
    assert all(e["type"] == "output" and e["subfolder"] == "" for e in shown["ui"]["images"])
    registry = open_registry(Settings(home=synthmark_home))
    for name in names:
        path = tmp_path / name
        with Image.open(path) as im:  # the chunks SaveImage writes, byte for byte
            assert im.text["prompt"] == json.dumps(PROMPT)
            assert im.text["workflow"] == json.dumps(EXTRA["workflow"])
        record = assert_labelled(path, synthmark_home)
        tools = {g["tool"] for g in record["generators"]}
        assert "ComfyUI" in tools
        stored = registry.get(record["registry_record"]["serial"])
        assert stored is not None and stored.model_id == "v1-5-pruned-emaonly.safetensors"
        assert stored.parameters["seed"] == 156680208700286
        assert stored.parameters["steps"] == 20 and stored.parameters["sampler"] == "euler"
        assert stored.prompt == "a red fox"  # the workflow keeps it, so the labels do too
    assert_stripped_copy_found(tmp_path / names[1], synthmark_home, tmp_path)
    again = node.label_and_save(images[:1], "synthmark", prompt=PROMPT, extra_pnginfo=EXTRA)
    assert again["ui"]["images"][0]["filename"] == "synthmark_00003_.png"  # counter goes on


def test_leaving_prompts_out_writes_no_workflow_and_no_prompt(
    tmp_path: Path, synthmark_home: Path
) -> None:
    node = LabelAndSave(output_dir=tmp_path)
    node.label_and_save(batch(texture()), "private/pic", prompts="leave out", prompt=PROMPT,
                        extra_pnginfo=EXTRA)
    (path,) = (tmp_path / "private").iterdir()
    with Image.open(path) as im:
        assert "prompt" not in im.text and "workflow" not in im.text
        assert "a red fox" not in im.text["parameters"]
    record = assert_labelled(path, synthmark_home)
    stored = open_registry(Settings(home=synthmark_home)).get(record["registry_record"]["serial"])
    assert stored is not None and stored.prompt is None


def test_inside_comfyui_the_save_path_and_disable_metadata_are_comfyuis(
    tmp_path: Path, synthmark_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def get_save_image_path(prefix: str, output_dir: str, w: int, h: int) -> tuple[Any, ...]:
        calls.append((prefix, output_dir, w, h))
        folder = Path(output_dir) / "sub"
        folder.mkdir(exist_ok=True)
        return str(folder), "pic%batch_num%", 7, "sub", prefix

    folder_paths = types.SimpleNamespace(
        get_output_directory=lambda: str(tmp_path), get_save_image_path=get_save_image_path
    )
    cli_args = types.SimpleNamespace(args=types.SimpleNamespace(disable_metadata=True))
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    monkeypatch.setitem(sys.modules, "comfy", types.ModuleType("comfy"))
    monkeypatch.setitem(sys.modules, "comfy.cli_args", cli_args)
    node = LabelAndSave()  # as ComfyUI makes it: no arguments
    shown = node.label_and_save(batch(texture(256, 3), texture(256, 4)), "x", prompt=PROMPT,
                                extra_pnginfo=EXTRA)
    assert calls == [("x", str(tmp_path), 256, 256)]
    assert [e["filename"] for e in shown["ui"]["images"]] == ["pic0_00007_.png", "pic1_00008_.png"]
    with Image.open(tmp_path / "sub" / "pic0_00007_.png") as im:
        assert "prompt" not in im.text and "workflow" not in im.text  # --disable-metadata
        assert "a red fox" not in im.text["parameters"]  # nor the prompt in the labels


def test_a_failure_stops_the_run_by_default_and_saves_nothing(tmp_path: Path) -> None:
    node = LabelAndSave(output_dir=tmp_path)
    with pytest.raises(LabellingFailed, match="ImageTooSmall"):
        node.label_and_save(batch(texture(128)), "small", prompt=PROMPT, extra_pnginfo=EXTRA)
    assert not list(tmp_path.glob("*.png"))


def test_opting_in_saves_unlabelled_named_so(tmp_path: Path) -> None:
    node = LabelAndSave(output_dir=tmp_path)
    shown = node.label_and_save(batch(texture(128)), "small", on_failure="save unlabelled",
                                prompt=PROMPT, extra_pnginfo=EXTRA)
    (entry,) = shown["ui"]["images"]
    assert entry["filename"] == "small_00001_.unlabelled.png"
    with Image.open(tmp_path / entry["filename"]) as im:
        assert im.text["workflow"] == json.dumps(EXTRA["workflow"])  # as SaveImage would
        assert "parameters" not in im.text


def test_the_model_comes_from_the_graph_or_the_node() -> None:
    assert graph_info(PROMPT).model == "v1-5-pruned-emaonly.safetensors"
    assert graph_info(PROMPT, "my-finetune").model == "my-finetune"
    assert graph_info(None, "flux-dev").model == "flux-dev"
    with pytest.raises(UsageError, match="type the model into the node's 'model' input"):
        graph_info({"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}})


def test_screen_gives_verdicts_and_reasons_as_strings(tmp_path: Path) -> None:
    saver = LabelAndSave(output_dir=tmp_path)
    saver.label_and_save(batch(texture(256, 5)), "s", prompt=PROMPT, extra_pnginfo=EXTRA)
    screen = Screen(folders=[tmp_path / "input", tmp_path])
    with Image.open(tmp_path / "s_00001_.png") as im:
        marked = batch(im.convert("RGB"))
    out = screen.screen(detector=False, images=torch.cat([marked, batch(texture(256, 6))]),
                        file="s_00001_.png")
    verdict, reasons = out["result"]
    assert out["ui"]["text"] == [verdict, reasons]
    lines = verdict.splitlines()
    assert lines[0].startswith("image 0: synthetic") and lines[1].startswith("image 1: no_evidence")
    assert lines[2].startswith("s_00001_.png: synthetic")
    assert "watermark" in reasons.lower() and "C2PA" in reasons
    with pytest.raises(UsageError, match="not a file in ComfyUI's input or output folder"):
        screen.screen(detector=False, file="../../etc/passwd")
    with pytest.raises(UsageError, match="connect images or name a file"):
        screen.screen(detector=False)
