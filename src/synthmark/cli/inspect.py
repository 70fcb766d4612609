"""``synthmark inspect``: every provenance signal of any image, without a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.cli._common import (
    PathsArgument,
    RegistryOption,
    data_console,
    emit_json,
    fail_unreadable,
    input_args,
    plain,
    state,
)

#: Generation parameters shown under generator metadata, in this order, with their labels.
_PARAMETERS = (
    ("prompt", "prompt"),
    ("negative_prompt", "negative prompt"),
    ("seed", "seed"),
    ("model", "model"),
    ("steps", "steps"),
    ("sampler", "sampler"),
    ("cfg_scale", "CFG scale"),
    ("size", "size"),
)


def _parameters(fields: dict[str, Any]) -> list[str]:
    """The generation parameters of one generator's metadata, one line each (none for
    metadata without parameters, such as a ComfyUI graph)."""
    if not any(fields.get(key) not in (None, "") for key, _ in _PARAMETERS):
        return []
    lines = []
    for key, label in _PARAMETERS:
        value = fields.get(key)
        if value not in (None, ""):
            lines.append(f"  {label}: {plain(str(value))}")
        elif key == "prompt":
            ours = str(fields.get("generator", "")).startswith("synthmark")
            hint = " (synthmark keeps only its hash unless --include-prompt)" if ours else ""
            lines.append(f"  prompt: not in the file{hint}")
    return lines


def _describe(record: dict[str, Any]) -> list[str]:
    lines = []
    c2pa = record.get("c2pa") or {}
    if c2pa.get("recovered"):
        types = ", ".join(t.rsplit("/", 1)[-1] for t in c2pa.get("digital_source_types", []))
        lines.append(
            f"C2PA: none in the file; recovered {c2pa.get('manifest_id')} through the "
            f"{c2pa.get('recovered_via')}: signature {c2pa.get('signature_state')}, hard "
            f"binding {c2pa.get('hard_binding')} (this copy's bytes differ from the signed "
            f"file's); claim generator {c2pa.get('claim_generator')}; source types: "
            f"{types or 'none'}"
        )
    elif c2pa.get("present"):
        types = ", ".join(t.rsplit("/", 1)[-1] for t in c2pa.get("digital_source_types", []))
        lines.append(
            f"C2PA: {c2pa.get('validation_state') or 'unreadable'}; claim generator "
            f"{c2pa.get('claim_generator')}; source types: {types or 'none'}"
        )
    else:
        lines.append("C2PA: none")
    xmp = (record.get("xmp") or {}).get("digital_source_type")
    lines.append(f"XMP DigitalSourceType: {xmp or 'none'}")
    exif = record.get("exif") or {}
    fields = [f"{k}={exif[k]}" for k in ("software", "make", "model") if exif.get(k)]
    if fields:
        lines.append("EXIF: " + ", ".join(fields))
    for meta in record.get("generators") or []:
        lines.append(f"Generator metadata: {meta['tool']} ({meta['kind']}) in {meta['where']}")
        lines.extend(_parameters(meta.get("fields") or {}))
        if meta.get("note"):
            lines.append(f"  note: {meta['note']}")
    for mark in record.get("watermarks") or []:
        text = f"Watermark {mark['scheme']}: {mark['status']}"
        if mark.get("payload"):
            text += f" payload {mark['payload']}"
        if isinstance(mark.get("p_value"), float):
            text += f" (p = {mark['p_value']:.1e})"
        lines.append(text)
    reg = record.get("registry_record")
    if reg:
        lines.append(
            f"Registry: serial {reg['serial']} ({reg['status']}), model {reg['model_id']}, "
            f"created {reg.get('created_at')}"
        )
    elif record.get("registry"):
        lookup = record["registry"]
        if lookup.get("exact"):
            lines.append(f"Registry: exact match, serial {lookup['exact'][0]['serial']}")
        elif lookup.get("similar"):
            match = lookup["similar"][0]
            lines.append(
                f"Registry: looks like serial {match['record']['serial']} "
                f"(distance {match['distance']})"
            )
    for error in record.get("errors") or []:
        lines.append(f"[red]error:[/] {plain(error)}")
    return lines


def inspect(
    ctx: typer.Context,
    paths: PathsArgument,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
    registry: RegistryOption = None,
) -> None:
    """Show every provenance signal of each image, without a verdict.

    C2PA (validation, claim generator, digital source types of the whole chain), XMP
    DigitalSourceType, EXIF, generator metadata (AUTOMATIC1111, ComfyUI, InvokeAI, NovelAI,
    Midjourney, SwarmUI, Fooocus) with the generation parameters (prompt, seed, model, ...),
    watermarks (ours with the home folder's key, and Stable Diffusion's public marks) and
    the registry.

    A damaged file gives an error for that file only; the exit status is then 1, with
    Error: ... on stderr.

    Example: synthmark inspect out/*.png --json
    """
    from synthmark.imaging import expand_inputs
    from synthmark.screen.assemble import ScreenerSpec, build_screener
    from synthmark.screen.gather import gather, signals_to_dict

    st = state(ctx)
    screener = build_screener(
        ScreenerSpec.from_settings(st.settings, use_detector=False, registry_url=registry)
    )
    options = screener.options.gather_options()
    out = data_console()
    failed: list[tuple[str, str]] = []
    total = 0
    for item in expand_inputs(input_args(paths)):
        total += 1
        unread: str | None = item.error
        if unread is not None:
            record: dict[str, Any] = {"path": str(item.path), "errors": [unread]}
        else:
            try:
                data = Path(item.path).read_bytes()
            except OSError as exc:
                unread = f"cannot read ({exc.strerror})"
                record = {"path": str(item.path), "errors": [unread]}
            else:
                signals = gather(data, item.path, options)
                record = signals_to_dict(signals)
                if not signals.decoded:
                    unread = next(iter(signals.errors), "cannot decode")
        if unread is not None:
            failed.append((str(item.path), unread))
        if json_:
            emit_json(record)
        else:
            out.print(f"[bold]{plain(record['path'])}[/]")
            for line in _describe(record):
                out.print(f"  {line}")
    fail_unreadable(failed, total)
