"""The built-in ``tiny`` model: a seeded, randomly initialised Stable Diffusion pipeline.

It is assembled from configs the way diffusers' own tests build their dummy components,
with a character-level CLIP tokenizer bundled in ``tiny_tokenizer/``. It needs no download
and renders 256x256 in well under a second on a CPU. **Its pictures are noise-like
textures, not images of anything**: it exists for tests, demos and benchmarks of the
marking pipeline, never for real content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The name that picks the built-in model (``--model tiny``).
TINY_MODEL = "tiny"
TINY_MODEL_ID = "synthmark/tiny-sd"
TINY_MODEL_VERSION = "1"
TOKENIZER_DIR = Path(__file__).with_name("tiny_tokenizer")


def build_tiny_pipeline(seed: int = 0) -> Any:
    """A :class:`diffusers.StableDiffusionPipeline` with tiny random weights from ``seed``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=32,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            norm_num_groups=8,
        )
        torch.manual_seed(seed)
        vae = AutoencoderKL(
            block_out_channels=[8, 16, 16, 16],
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            latent_channels=4,
            norm_num_groups=8,
            layers_per_block=1,
            sample_size=256,
        )
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
                hidden_size=32,
                intermediate_size=64,
                num_attention_heads=4,
                num_hidden_layers=2,
                vocab_size=len(tokenizer),
                max_position_embeddings=77,
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]
    return pipeline


__all__ = [
    "TINY_MODEL",
    "TINY_MODEL_ID",
    "TINY_MODEL_VERSION",
    "TOKENIZER_DIR",
    "build_tiny_pipeline",
]
