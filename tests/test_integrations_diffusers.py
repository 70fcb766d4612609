"""diffusers: ``attach`` and the SDXL ``watermark`` drop-in, end to end with tiny pipelines."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from synthmark.errors import UsageError
from synthmark.generate.tiny import TINY_MODEL_ID, TOKENIZER_DIR, build_tiny_pipeline
from synthmark.integrations import LabellingFailed
from synthmark.integrations.diffusers import (
    DEFAULT_TORCH_SEED,
    SynthmarkWatermarker,
    attach,
    detach,
    model_name,
    seeds,
)
from synthmark.labels.containers import extract_blocks
from synthmark.registry import open_registry
from synthmark.settings import Settings
from tests.test_integrations_common import assert_labelled, assert_stripped_copy_found

pytestmark = pytest.mark.timeout(300)
STEPS = 2


@pytest.fixture(scope="module")
def pipe() -> Any:
    return build_tiny_pipeline()


@pytest.fixture
def attached(pipe: Any, tmp_path: Path) -> Any:
    home, out = tmp_path / "home", tmp_path / "out"
    hook = attach(pipe, out, model_id=TINY_MODEL_ID, settings=Settings(home=home))
    yield pipe, hook, home, out
    detach(pipe)


def _file_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _record(home: Path, serial: int) -> Any:
    return open_registry(Settings(home=home)).get(serial)


def test_pil_outputs_come_back_marked_and_each_file_passes_generates_checks(
    attached: Any, tmp_path: Path
) -> None:
    pipe, hook, home, out = attached
    output = pipe(
        "a lighthouse", num_inference_steps=STEPS, guidance_scale=6.0,
        generator=torch.Generator().manual_seed(1234), num_images_per_prompt=2,
    )
    assert [type(im) for im in output.images] == [Image.Image, Image.Image]
    assert len(hook.results) == 2 and {r.path.parent for r in hook.results} == {out}
    for position, (image, result) in enumerate(zip(output.images, hook.results, strict=True)):
        # the returned pixels are the labelled file's: the caller gets the marked picture
        assert np.array_equal(np.asarray(image), _file_pixels(result.path))
        record = assert_labelled(result.path, home, result.serial)
        params = _record(home, result.serial).parameters
        assert params["model"] == TINY_MODEL_ID and params["seed"] == 1234
        assert params["steps"] == STEPS and params["cfg_scale"] == 6.0
        assert params["sampler"] == "DDIM" and params["size"] == "256x256"
        assert params["batch_size"] == 2 and params["batch_pos"] == position
        assert any(g["fields"].get("seed") == 1234 for g in record["generators"])
    assert_stripped_copy_found(hook.results[1].path, home, tmp_path)


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_np_and_pt_outputs_keep_their_layout_and_hold_the_marked_pixels(
    attached: Any, output_type: str
) -> None:
    pipe, hook, home, _ = attached
    output = pipe("a fox", num_inference_steps=STEPS, output_type=output_type,
                  generator=torch.Generator().manual_seed(5))
    images = output.images
    if output_type == "np":
        assert isinstance(images, np.ndarray) and images.shape == (1, 256, 256, 3)
        pixels = images[0]
    else:
        assert isinstance(images, torch.Tensor) and images.shape == (1, 3, 256, 256)
        assert images.dtype == torch.float32
        pixels = images[0].permute(1, 2, 0).numpy()
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0
    (result,) = hook.results
    assert np.array_equal((pixels * 255).round().astype(np.uint8), _file_pixels(result.path))
    assert _record(home, result.serial).status.value == "committed"


def test_latent_output_is_refused_before_the_pipeline_runs(attached: Any) -> None:
    pipe, _hook, home, out = attached
    calls = []
    handle = pipe.unet.register_forward_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(UsageError, match=r"output_type='latent'.*no pixels to mark"):
            pipe("x", num_inference_steps=STEPS, output_type="latent")
    finally:
        handle.remove()
    assert calls == [] and not list(out.iterdir())
    assert open_registry(Settings(home=home)).list_records() == []


def test_tuple_output_and_prompt_lists_and_no_seed_without_generator(attached: Any) -> None:
    pipe, hook, home, _ = attached
    images, nsfw = pipe(["a cat", "a dog"], num_inference_steps=STEPS, return_dict=False)
    assert len(images) == 2 and nsfw is None
    first, _second = (_record(home, r.serial) for r in hook.results)
    assert "seed" not in first.parameters and "batch_pos" not in first.parameters
    assert first.prompt is None  # prompts are kept only on opt-in


def test_include_prompt_keeps_each_images_own_prompt(pipe: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    hook = attach(pipe, tmp_path / "out", model_id=TINY_MODEL_ID,
                  settings=Settings(home=home), include_prompt=True)
    try:
        pipe(["a cat", "a dog"], num_inference_steps=STEPS,
             generator=[torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)])
    finally:
        detach(pipe)
    first, second = (_record(home, r.serial) for r in hook.results)
    assert (first.prompt, second.prompt) == ("a cat", "a dog")
    assert (first.parameters["seed"], second.parameters["seed"]) == (7, 8)
    with Image.open(hook.results[1].path) as im:
        assert im.text["parameters"].startswith("a dog\n")


def test_image_to_image_records_its_strength(pipe: Any, tmp_path: Path) -> None:
    from diffusers import AutoPipelineForImage2Image

    home = tmp_path / "home"
    img2img = AutoPipelineForImage2Image.from_pipe(pipe)
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    hook = attach(img2img, tmp_path / "out", model_id=TINY_MODEL_ID, settings=Settings(home=home))
    start = Image.new("RGB", (256, 256), (120, 90, 60))
    img2img("a painting", image=start, strength=0.75, num_inference_steps=4,
            generator=torch.Generator().manual_seed(3))
    (result,) = hook.results
    params = _record(home, result.serial).parameters
    assert params["denoising_strength"] == 0.75 and params["seed"] == 3
    assert _record(home, result.serial).pipeline == "StableDiffusionImg2ImgPipeline"
    assert_labelled(result.path, home, result.serial)


def test_attach_keeps_the_pipelines_identity_and_detach_undoes_it(
    pipe: Any, tmp_path: Path
) -> None:
    cls = type(pipe)
    signature = inspect.signature(pipe)
    hook = attach(pipe, tmp_path / "out", model_id="m", settings=Settings(home=tmp_path / "h"))
    assert pipe.synthmark is hook
    assert isinstance(pipe, cls) and type(pipe).__name__ == cls.__name__
    assert inspect.signature(pipe) == signature
    with pytest.raises(UsageError, match="attached already"):
        attach(pipe, tmp_path / "out", model_id="m")
    detach(pipe)
    assert type(pipe) is cls and "synthmark" not in pipe.__dict__


def test_a_pipeline_that_does_not_name_its_model_needs_model_id(pipe: Any, tmp_path: Path) -> None:
    assert pipe.name_or_path is None  # built from components
    with pytest.raises(UsageError, match="pass model_id="):
        attach(pipe, tmp_path / "out")
    snapshot = tmp_path / "hub" / "models--acme--sd-test" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    pipe.register_to_config(_name_or_path=str(snapshot))
    try:
        assert model_name(pipe) == "acme/sd-test"
    finally:
        pipe.register_to_config(_name_or_path=None)


def test_seeds_from_generators() -> None:
    unseeded = torch.Generator()
    assert unseeded.initial_seed() == DEFAULT_TORCH_SEED
    assert seeds(unseeded, 1) == ([None], False)
    assert seeds(None, 2) == ([None, None], False)
    assert seeds(torch.Generator().manual_seed(9), 3) == ([9, 9, 9], True)
    assert seeds([torch.Generator().manual_seed(4)], 1) == ([4], False)
    pair = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]
    assert seeds(pair, 2) == ([1, 2], False)


def test_failure_raises_by_default_and_keeps_the_users_images(attached: Any) -> None:
    pipe, _hook, _home, out = attached
    with pytest.raises(LabellingFailed, match=r"ImageTooSmall.*nothing unlabelled") as err:
        pipe("x", num_inference_steps=STEPS, height=128, width=128)
    assert err.value.output is not None and err.value.output.images[0].size == (128, 128)
    assert err.value.images[0].size == (128, 128)
    assert not list(out.iterdir())


def test_failure_with_opt_in_writes_an_unlabelled_file(pipe: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    hook = attach(pipe, out, model_id=TINY_MODEL_ID, settings=Settings(home=tmp_path / "h"),
                  on_failure="save-unlabelled")
    try:
        output = pipe("x", num_inference_steps=STEPS, height=128, width=128)
    finally:
        detach(pipe)
    assert hook.results == [None]
    (saved,) = out.iterdir()
    assert "unlabelled" in saved.name
    assert np.array_equal(_file_pixels(saved), np.asarray(output.images[0]))
    assert not extract_blocks(saved.read_bytes()).jumbf  # no manifest: unlabelled


def test_images_blocked_by_the_safety_checker_are_not_labelled(tmp_path: Path) -> None:
    from diffusers.pipelines.stable_diffusion import StableDiffusionPipelineOutput

    from tests.test_integrations_common import texture

    class Pipe:
        def __call__(self, prompt: str, output_type: str = "pil") -> Any:
            return StableDiffusionPipelineOutput(
                images=[texture(256, 1), Image.new("RGB", (256, 256))],
                nsfw_content_detected=[False, True],
            )

    fake = Pipe()
    hook = attach(fake, tmp_path / "out", model_id="m", settings=Settings(home=tmp_path / "h"))
    output = fake("x")
    assert hook.results[0] is not None and hook.results[1] is None
    assert np.asarray(output.images[1]).max() == 0  # the checker's black picture, as it was
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_a_failure_beside_a_blocked_image_names_the_batchs_own_positions(tmp_path: Path) -> None:
    from diffusers.pipelines.stable_diffusion import StableDiffusionPipelineOutput

    from tests.test_integrations_common import texture

    small = texture(128, 2)

    class Pipe:
        def __call__(self, prompt: str) -> Any:
            return StableDiffusionPipelineOutput(
                images=[Image.new("RGB", (256, 256)), small], nsfw_content_detected=[True, False]
            )

    fake = Pipe()
    attach(fake, tmp_path / "out", model_id="m", settings=Settings(home=tmp_path / "h"))
    with pytest.raises(LabellingFailed) as err:
        fake("x")
    assert list(err.value.errors) == [1] and err.value.images[1] is small
    assert err.value.results == [None, None] and len(err.value.images) == 2


def test_an_output_without_pictures_fails_loudly_and_keeps_the_output(tmp_path: Path) -> None:
    class Pipe:
        def __call__(self, prompt: str) -> Any:
            return {"frames": np.zeros((1, 8, 64, 64, 3), np.float32)}  # a video pipeline's

    fake = Pipe()
    attach(fake, tmp_path / "out", model_id="m", settings=Settings(home=tmp_path / "h"))
    with pytest.raises(LabellingFailed, match="cannot label pipeline outputs of type") as err:
        fake("x")
    assert err.value.output["frames"].shape == (1, 8, 64, 64, 3)  # what the pipeline made


# -- the SDXL ``watermark`` drop-in --------------------------------------------------------


@pytest.fixture(scope="module")
def sdxl() -> Any:
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    tok = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
            out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
            use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
            projection_class_embeddings_input_dim=80, cross_attention_dim=64, norm_num_groups=8,
        )
        vae = AutoencoderKL(
            block_out_channels=[8, 16, 16, 16], in_channels=3, out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
            latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=256,
        )
        cfg = CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
            intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
            vocab_size=len(tok), max_position_embeddings=77, hidden_act="gelu", projection_dim=32,
        )
        encoders = CLIPTextModel(cfg), CLIPTextModelWithProjection(cfg)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        unet=unet, vae=vae, text_encoder=encoders[0], text_encoder_2=encoders[1],
        tokenizer=tok, tokenizer_2=tok, scheduler=scheduler, add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_sdxl_watermark_drop_in_marks_labels_and_registers(sdxl: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    marker = SynthmarkWatermarker(tmp_path / "out", model_id="acme/tiny-sdxl",
                                  settings=Settings(home=home))
    sdxl.watermark = marker
    try:
        output = sdxl("a boat", num_inference_steps=STEPS, output_type="np")
        (result,) = marker.results
        with pytest.raises(UsageError, match="labels the pictures already"):
            attach(sdxl, tmp_path / "o2", model_id="m")
        # narrower than 256 px: diffusers' dwtDct skips it silently; this is an error
        with pytest.raises(LabellingFailed, match="ImageTooSmall"):
            sdxl("a boat", num_inference_steps=STEPS, width=128, height=256)
    finally:
        sdxl.watermark = None
    assert marker.results == [None]  # the last call's
    assert output.images.shape == (1, 256, 256, 3)
    marked = (output.images[0] * 255).round().astype(np.uint8)
    assert np.array_equal(marked, _file_pixels(result.path))
    assert_labelled(result.path, home, result.serial)
    assert _record(home, result.serial).model_id == "acme/tiny-sdxl"


def test_sdxl_drop_in_passes_latents_through(tmp_path: Path) -> None:
    marker = SynthmarkWatermarker(tmp_path / "out", model_id="m",
                                  settings=Settings(home=tmp_path / "h"))
    latents = torch.randn(1, 4, 8, 8)
    assert marker.apply_watermark(latents) is latents
    assert marker.results == [] and not list((tmp_path / "out").iterdir())


def test_the_overhead_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.test_benchmark_scripts import _load

    bench = _load("integrations_diffusers")
    args = ["--n", "1", "--size", "256", "--steps", "1", "--output-type", "pil", "pt"]
    assert bench.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["size"] == "256x256" and report["images_per_type"] == 1
    for kind in ("pil", "pt"):
        assert report[kind]["attached_call"]["median_ms"] > 0
        assert set(report[kind]["stages_median_ms"]) >= {"watermark", "labels"}
        assert "median_ms" in report[kind]["overhead"] and "median_ms" in report[kind]["attach_own"]


def test_attach_works_on_sdxl_too(sdxl: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    hook = attach(sdxl, tmp_path / "out", model_id="acme/tiny-sdxl", settings=Settings(home=home))
    try:
        (images,) = sdxl("a boat", num_inference_steps=STEPS, return_dict=False,
                         generator=torch.Generator().manual_seed(11))
    finally:
        detach(sdxl)
    (result,) = hook.results
    assert np.array_equal(np.asarray(images[0]), _file_pixels(result.path))
    params = _record(home, result.serial).parameters
    assert params["sampler"] == "Euler" and params["seed"] == 11 and params["cfg_scale"] == 5.0
    assert _record(home, result.serial).pipeline == "StableDiffusionXLPipeline"
