"""``synthmark watermark``: embed and read invisible watermarks, manage the watermark key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthmark.choices import ReadScheme
from synthmark.choices import WatermarkSchemeName as Scheme
from synthmark.cli._common import (
    ATTACK_NAMES,
    PathsArgument,
    data_console,
    emit_json,
    fail_unreadable,
    input_args,
    plain,
    state,
)
from synthmark.settings import WATERMARK_KEY_ENV

if TYPE_CHECKING:
    from synthmark.watermark import Readout

app = typer.Typer(
    help="Embed and read invisible watermarks (synthmark's own scheme and Stable Diffusion's).",
    no_args_is_help=True,
)

KEY_ENV = WATERMARK_KEY_ENV


_KEY_OPTION = typer.Option(
    "--key-file",
    envvar=KEY_ENV,
    show_envvar=True,
    help="Watermark key file (default: keys/watermark.key under the home folder).",
)


def _parse_payload(text: str, n_bytes: int, scheme: str) -> bytes:
    from synthmark.errors import UsageError

    cleaned = text.strip().lower().removeprefix("0x")
    bad = sorted({c for c in cleaned if c not in "0123456789abcdef"})
    if bad:
        raise UsageError(
            f"must be hexadecimal digits (0-9, a-f), got {text!r} (not hex: {''.join(bad)!r})"
        )
    if len(cleaned) != 2 * n_bytes:
        expected = (
            f"{2 * n_bytes} hex digits ({n_bytes} byte{'' if n_bytes == 1 else 's'}, e.g. "
            f"{min(1234, 256**n_bytes - 1):0{2 * n_bytes}x})"
            if n_bytes
            else "empty (this scheme carries a fixed message)"
        )
        raise UsageError(
            f"must be {expected} for scheme {scheme!r}; got {len(cleaned)} hex digit"
            f"{'' if len(cleaned) == 1 else 's'}"
            + (": pad it with leading zeros" if 0 < len(cleaned) < 2 * n_bytes else "")
        )
    return bytes.fromhex(cleaned)


@app.command("keygen")
def keygen(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing key (old marks become unreadable).")
    ] = False,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="Retire the home folder's key (it keeps reading older marks) and write a "
            "new one, which marks from now on.",
        ),
    ] = False,
    key_file: Annotated[Path | None, _KEY_OPTION] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print {path, key_id} on stdout.")] = False,
) -> None:
    """Create the secret watermark key (32 random bytes, file mode 0600).

    The key itself is never printed; its fingerprint (key_id) is. With --rotate the old key
    moves to keys/watermark-retired/ and still reads (screen, inspect, watermark read).

    Example: synthmark watermark keygen --rotate
    """
    from synthmark.errors import UsageError
    from synthmark.watermark.keys import create_key, key_id, key_path, rotate_key

    settings = state(ctx).settings
    if rotate and (force or key_file is not None):
        raise UsageError("--rotate works on the home folder's key; drop --force/--key-file")
    key = rotate_key(settings) if rotate else create_key(settings, force=force, path=key_file)
    path = key_path(settings, key_file)
    if json_:
        emit_json({"path": str(path), "key_id": key_id(key)})
    state(ctx).console.print(
        f"Watermark key written to {plain(str(path))} (key id {key_id(key)}). "
        "Back it up: without it, marks cannot be read."
    )


@app.command("embed")
def embed(
    ctx: typer.Context,
    input_path: Annotated[Path, typer.Argument(help="Image to mark.", metavar="INPUT")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the marked image (PNG, JPEG "
            "or WebP by suffix; PNG keeps the mark intact). An existing file is replaced, "
            "but never the input itself.",
        ),
    ],
    payload: Annotated[
        str,
        typer.Option(
            "--payload",
            help="Payload in hex: 16 digits (64 bits) for synthmark; empty for sd1/sd2/sdxl.",
        ),
    ] = "",
    scheme: Annotated[
        Scheme, typer.Option("--scheme", help="Watermark scheme.")
    ] = Scheme.synthmark,
    quality: Annotated[
        int, typer.Option("--quality", min=1, max=100, help="JPEG/WebP quality of the output.")
    ] = 95,
    key_file: Annotated[Path | None, _KEY_OPTION] = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Embed an invisible watermark carrying PAYLOAD.

    The mark is read back from the encoded output before anything is written: an image too
    flat or small to carry it (or a quality too low to keep it) is an error, not a file.
    The input's EXIF, ICC profile, XMP and text chunks are kept where the output format has
    room for them; what cannot be kept (a C2PA manifest, which the changed pixels would
    break) is said on stderr. To keep a manifest as ingredient, use synthmark label.

    Example: synthmark watermark embed photo.png -o marked.png --payload 00000000000004d2
    """
    from PIL import Image

    from synthmark.errors import UsageError
    from synthmark.imaging import atomic_write, encode_image, load_image
    from synthmark.labels.keep import carried_metadata, save_options
    from synthmark.watermark import get_scheme
    from synthmark.watermark.base import READBACK_HINT, embed_checked
    from synthmark.watermark.keys import load_key
    from synthmark.watermark.quality import psnr

    settings = state(ctx).settings
    fmt = _output_format(output, input_path)
    marker = get_scheme(
        scheme.value, key=load_key(settings, key_file) if scheme is Scheme.synthmark else None
    )
    try:
        data = _parse_payload(payload, marker.payload_bytes, scheme.value)
    except UsageError as exc:
        raise typer.BadParameter(str(exc), param_hint="--payload") from None
    loaded = load_image(input_path)
    params: dict[str, Any] = {} if fmt == "PNG" else {"quality": quality}
    hint = READBACK_HINT
    if fmt != "PNG":
        hint += f", or {fmt} quality {quality} too low to keep it (try PNG or a higher --quality)"

    def delivered(image: Image.Image) -> Image.Image:
        return load_image(encode_image(image, fmt, **params)).image

    marked = embed_checked(marker, loaded.image, data, delivered, hint)
    kept = carried_metadata(loaded, fmt)
    atomic_write(output, encode_image(marked, fmt, **params, **save_options(fmt, kept)))
    quality_db = psnr(loaded.image, marked)
    if json_:
        emit_json({"path": str(input_path), "output": str(output), "scheme": scheme.value,
                   "payload": data.hex(), "psnr_db": round(quality_db, 2),
                   "kept": kept.kept, "not_kept": kept.dropped})
    state(ctx).console.print(
        f"{plain(str(output))}: {scheme.value} mark, payload {data.hex() or '(fixed)'}, "
        f"PSNR {quality_db:.1f} dB"
    )
    _say_kept(state(ctx).console, kept.kept, kept.dropped)


def _output_format(output: Path, input_path: Path) -> str:
    """The format ``output``'s suffix names; a usage error for another suffix or the input."""
    import os

    from synthmark.errors import UsageError

    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
    fmt = formats.get(output.suffix.lower())
    if fmt is None:
        raise typer.BadParameter(
            f"{output} must end in .png, .jpg, .jpeg or .webp", param_hint="--output"
        )
    if output.resolve() == input_path.resolve() or (
        output.exists() and input_path.exists() and os.path.samefile(output, input_path)
    ):
        raise UsageError(
            f"--output {output} is the input image; write the marked copy to another file"
        )
    return fmt


def _say_kept(console: Any, kept: list[str], dropped: list[str]) -> None:
    """What of the input's metadata the marked copy kept, and what not and why (stderr)."""
    if kept:
        console.print(f"  kept: {plain(', '.join(kept))}")
    for item in dropped:
        console.print(f"  [yellow]not kept:[/] {plain(item)}")


def _summary(path: str, readouts: list[Readout]) -> dict[str, Any]:
    """One line per input: the most telling readout on top, all of them under readouts."""
    from synthmark.jsonutil import to_jsonable

    def rank(r: Readout) -> int:
        return {"present": 0, "damaged": 1}.get(r.status.value, 2)

    top = min(readouts, key=rank)
    return {
        "path": path,
        "scheme": top.scheme,
        "status": top.status.value,
        "payload": top.payload.hex() if top.payload is not None else None,
        "p_value": top.p_value,
        "attribution": top.attribution,
        "readouts": [to_jsonable(r) for r in readouts],
    }


def _registry_if_any(settings: Any) -> Any:
    """The registry of ``settings`` when there is one (a URL, or the home folder's file);
    None otherwise (a read never creates one)."""
    if not (settings.registry_url or settings.registry_path.exists()):
        return None
    from synthmark.registry import open_registry

    return open_registry(settings)


@app.command("read")
def read(
    ctx: typer.Context,
    paths: PathsArgument,
    scheme: Annotated[
        ReadScheme,
        typer.Option(
            "--scheme",
            help="Scheme to read, or auto (synthmark if a key "
            "exists, plus the SD 1.x/2.x/XL public marks).",
        ),
    ] = ReadScheme.auto,
    key_file: Annotated[Path | None, _KEY_OPTION] = None,
    json_: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One JSON object per input on stdout: path, scheme, "
            "status, payload (hex or null), p_value and all readouts.",
        ),
    ] = False,
) -> None:
    """Read watermarks; the results go to stdout (a table, or JSON Lines with --json).

    Exit status 0 when every input was read (whatever it carries), 1 when an input could
    not be read (Error: ... on stderr names it) or the key given with --key-file /
    SYNTHMARK_WATERMARK_KEY is missing or invalid.

    A present synthmark mark is checked against the registry (when there is one): its
    attribution is bound (the registered picture), copied (another picture's mark),
    unregistered (a serial the registry does not know) or unknown (no registry).

    Example: synthmark watermark read marked.png uploads/ --json
    """
    from rich.table import Column, Table

    from synthmark.errors import SynthmarkError
    from synthmark.imaging import error_detail, expand_inputs
    from synthmark.watermark.keys import NO_KEY_WARNING, find_key, load_key, retired_keys

    settings = state(ctx).settings
    console = state(ctx).console
    key: bytes | None = None
    if scheme is ReadScheme.synthmark:
        key = load_key(settings, key_file)
    elif scheme is ReadScheme.auto:
        key = find_key(settings, key_file)  # a key named but missing or invalid raises
        if key is None:
            console.print(f"[yellow]{plain(NO_KEY_WARNING)}.[/]")
    named = key_file is not None  # typer fills it from SYNTHMARK_WATERMARK_KEY too
    reader = _Reader(
        scheme,
        key,
        retired_keys(settings) if key is not None and not named else [],
        _registry_if_any(settings) if key is not None else None,
    )
    table = Table("scheme", "status", "payload", "p-value", "note")
    table.columns.insert(0, Column("path", overflow="fold"))  # whole paths, even when narrow
    failed: list[tuple[str, str]] = []
    total = 0
    for item in expand_inputs(input_args(paths)):
        total += 1
        record: dict[str, Any]
        try:
            if item.error is not None:
                raise SynthmarkError(item.error)
            record = reader.read(item.path)
        except SynthmarkError as exc:
            detail = error_detail(exc, item.path)
            failed.append((str(item.path), detail))
            record = {"path": str(item.path), "scheme": scheme.value, "status": None}
            record |= {"payload": None, "p_value": None, "error": detail}
        if json_:
            emit_json(record)
        else:
            table.add_row(*_table_row(record, scheme.value))
    if not json_:
        data_console().print(table)  # stdout: the results are data, even under --quiet
    fail_unreadable(failed, total)


class _Reader:
    """Reads one file for ``watermark read``: the chosen scheme (or every mark), the
    retired keys after the key, and the attribution of our mark against the registry."""

    def __init__(
        self, scheme: ReadScheme, key: bytes | None, retired: list[bytes], registry: Any
    ) -> None:
        from synthmark.watermark import get_scheme

        self.scheme = scheme
        self.key = key
        self.retired = retired
        self.registry = registry
        self.reader = None if scheme is ReadScheme.auto else get_scheme(scheme.value, key=key)

    def read(self, path: Path) -> dict[str, Any]:
        from synthmark.imaging import load_image
        from synthmark.screen.attribution import attribute_readouts
        from synthmark.watermark import read_all, read_synthmark

        image = load_image(path).image
        if self.reader is None:
            readouts = read_all(image, self.key, self.retired)
        elif self.scheme is ReadScheme.synthmark and self.key is not None:
            readouts = [read_synthmark(image, self.key, self.retired)]
        else:
            readouts = [self.reader.extract(image)]
        attribute_readouts(image, readouts, self.registry)
        return _summary(str(path), readouts)


def _table_row(record: dict[str, Any], scheme: str) -> tuple[str, ...]:
    """One row of ``watermark read``'s table."""
    if "error" in record:
        return (plain(record["path"]), scheme, "[red]error", "", "", plain(record["error"]))
    p = record["p_value"]
    note = next((n for r in record["readouts"] if (n := r["details"].get("note"))), "")
    status = record["status"]
    if record["attribution"]:
        status = f"{status} ({record['attribution']})"
    return (
        plain(record["path"]),
        record["scheme"],
        status,
        record["payload"] or "",
        "" if p is None else f"{p:.1e}",
        plain(str(note)),
    )


@app.command("bench")
def bench(
    ctx: typer.Context,
    data: Annotated[
        Path, typer.Option("--data", help="Folder of images to mark and attack (searched deeply).")
    ],
    n: Annotated[int, typer.Option("--n", min=1, help="Images per size and scheme.")] = 100,
    sizes: Annotated[
        str, typer.Option("--sizes", help="Comma-separated square sizes.")
    ] = "512,1024",
    schemes: Annotated[
        str, typer.Option("--schemes", help="Comma-separated schemes.")
    ] = "synthmark,dwtDct,dwtDctSvd,rivaGan",
    attacks: Annotated[
        str,
        typer.Option(
            "--attacks",
            help=f"Comma-separated attacks, each one of: {ATTACK_NAMES} (default: the "
            "watermark targets and stretch goals: jpeg:50, webp:50, resize:0.5 and 1.5, "
            "crop:0.5, blur:1, noise:5, brightness, contrast, rotate:±2 and ±10, chain, hflip).",
        ),
    ] = "",
    rivagan_n: Annotated[
        int, typer.Option("--rivagan-n", min=1, help="Images for rivaGan (about 3 s each).")
    ] = 10,
    unmarked: Annotated[
        int,
        typer.Option(
            "--unmarked",
            min=0,
            help="Unmarked source images for false "
            "positives (0 = all); each is read as is, cropped and resized.",
        ),
    ] = 0,
    timing: Annotated[
        int,
        typer.Option(
            "--timing", min=0, help="Images for the 512 vs 2048 px timing of synthmark (0 = skip)."
        ),
    ] = 5,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate", help="Also measure the SD public marks on unmarked and SD-marked images."
        ),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Benchmark the schemes against the attacks (takes a while; progress on stderr).

    Example: synthmark watermark bench --data photos/ --n 100 --sizes 512,1024
    """
    from synthmark.attacks import parse_attacks
    from synthmark.eval.watermark_bench import BenchConfig, parse_sizes, run_benchmark
    from synthmark.eval.watermark_calibration import calibrate_public_marks, format_calibration
    from synthmark.eval.watermark_tables import format_markdown

    console = state(ctx).console
    config = BenchConfig(
        data_dir=data,
        schemes=[s.strip() for s in schemes.split(",") if s.strip()],
        sizes=parse_sizes(sizes),
        n_images=n,
        scheme_images={"rivaGan": rivagan_n},
        unmarked_limit=unmarked or None,
        timing_2048=timing,
    )
    if attacks:
        config.attacks = [a.name for a in parse_attacks(attacks)]
    def say(line: str) -> None:
        console.print(plain(line))

    result = run_benchmark(config, progress=say)
    cal = calibrate_public_marks(data, unmarked or None, progress=say) if calibrate else None
    if json_:
        emit_json({"benchmark": result, "public_marks": cal})
        return
    typer.echo(format_markdown(result))
    if cal is not None:
        typer.echo("")
        typer.echo(format_calibration(cal))
