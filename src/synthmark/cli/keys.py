"""``synthmark keys``: C2PA signing credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.cli._common import emit_json, plain, state
from synthmark.settings import C2PA_CERT_ENV as ENV_CERT
from synthmark.settings import C2PA_KEY_ENV as ENV_KEY
from synthmark.settings import C2PA_TSA_ENV as ENV_TSA

app = typer.Typer(
    help="Create and show the watermark key and C2PA signing credentials.", no_args_is_help=True
)


#: The options that shape new C2PA credentials: given with existing ones, they need --force.
_IDENTITY = {"organisation": "--org", "common_name": "--common-name", "days": "--days"}


@app.command("init")
def init(
    ctx: typer.Context,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace existing C2PA credentials (verifiers that trust the old root CA "
            "will not trust the new one). The watermark key is never replaced here.",
        ),
    ] = False,
    organisation: Annotated[
        str, typer.Option("--organisation", "--org", help="Organisation named in the certificates.")
    ] = "synthmark",
    common_name: Annotated[
        str, typer.Option("--common-name", help="Common name of the signing certificate.")
    ] = "synthmark signer",
    days: Annotated[
        int, typer.Option("--days", min=1, help="Validity of the signing certificate in days.")
    ] = 5 * 365,
    json_: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the keys synthmark needs: the watermark key and a local C2PA signing CA.

    Run it once before generating. What already exists is kept and shown, so running it
    again (or after generate made the keys on first use) changes nothing. Keys are written
    with mode 0600 under HOME/keys/ and never printed: back them up. Give root-ca.pem to
    whoever verifies your images: with it as trust anchor, `synthmark inspect` reports your
    manifests as Trusted (Valid without it).

    Example: synthmark keys init --org "Acme Images"
    """
    from synthmark.errors import UsageError
    from synthmark.labels.credentials import (
        LocalCaPaths,
        describe_credentials,
        init_local_ca,
        load_credentials,
    )
    from synthmark.watermark.keys import create_key, key_id, key_path, load_key

    cli = state(ctx)
    settings = cli.settings
    paths = LocalCaPaths.under(settings.keys_dir)
    ca_created = force or not paths.exists()
    if ca_created:
        paths = init_local_ca(
            settings, organisation=organisation, common_name=common_name, days=days, force=force
        )
    else:
        given = [
            flag
            for name, flag in _IDENTITY.items()
            if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"
        ]
        if given:
            raise UsageError(
                f"C2PA credentials already exist in {paths.folder}; {', '.join(given)} "
                "would only shape new ones: pass --force to replace them"
            )
    wm_path = key_path(settings)
    wm_created = not wm_path.exists()
    key = create_key(settings) if wm_created else load_key(settings)
    info = describe_credentials(load_credentials(settings, environ={}), settings)
    made = {"watermark": (wm_path, key_id(key), wm_created), "c2pa": (paths, ca_created)}
    _report_init(cli, made, info, json_)


def _report_init(cli: Any, made: dict[str, Any], info: Any, json_: bool) -> None:
    """What ``keys init`` made or kept: paths and fingerprints, never a key."""
    wm_path, wm_id, wm_created = made["watermark"]
    paths, ca_created = made["c2pa"]
    if json_:
        emit_json(
            {
                "watermark_key": str(wm_path),
                "watermark_key_id": wm_id,
                "watermark_key_created": wm_created,
                "root_ca": str(paths.root_cert),
                "signer_chain": str(paths.signer_chain),
                "signer_key": str(paths.signer_key),
                "c2pa_created": ca_created,
                "subject": info.subject,
                "sha256_fingerprint": info.sha256_fingerprint,
                "not_after": info.not_after,
            }
        )
        return
    did = {True: "Created the", False: "Kept the existing"}
    lines = [
        f"{did[wm_created]} watermark key: {wm_path} (key id {wm_id})",
        f"{did[ca_created]} local C2PA CA in {paths.folder}",
        f"  trust anchor (share it): {paths.root_cert}",
        f"  signing chain:           {paths.signer_chain}",
        f"  signing key (0600):      {paths.signer_key}",
        f"  subject:                 {info.subject}",
        f"  fingerprint SHA-256:     {info.sha256_fingerprint}",
        f"  valid until:             {info.not_after:%Y-%m-%d}",
    ]
    if wm_created or ca_created:
        lines.append("Back up the keys folder: without the watermark key, marks cannot be read.")
    for line in lines:
        cli.console.print(plain(line), soft_wrap=True)


@app.command("show")
def show(
    ctx: typer.Context,
    cert: Annotated[
        Path | None,
        typer.Option(
            "--cert",
            envvar=ENV_CERT,
            show_envvar=True,
            help="Certificate chain (PEM, leaf first) instead of the local CA's.",
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", envvar=ENV_KEY, show_envvar=True, help="Private key (PEM) for --cert."
        ),
    ] = None,
    tsa_url: Annotated[
        str | None,
        typer.Option(
            "--tsa-url", envvar=ENV_TSA, show_envvar=True, help="RFC 3161 time-stamp URL."
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show which signing credentials would be used, and check that C2PA can use them.

    Prints the certificate's subject, issuer, validity, key usages and fingerprint; never
    the key. Exits 1 when there are none or they cannot sign.

    Example: synthmark keys show --json
    """
    from synthmark.labels.credentials import describe_credentials, load_credentials

    cli = state(ctx)
    creds = load_credentials(cli.settings, cert=cert, key=key, tsa_url=tsa_url, environ={})
    info = describe_credentials(creds, cli.settings)
    if json_:
        emit_json(info)
        return
    rows = [
        ("source", info.source),
        ("algorithm", info.alg),
        ("subject", info.subject),
        ("issuer", info.issuer),
        ("valid", f"{info.not_before:%Y-%m-%d} .. {info.not_after:%Y-%m-%d}"),
        ("key usages", ", ".join(info.extended_key_usages)),
        ("fingerprint", info.sha256_fingerprint),
        ("chain", f"{info.chain_length} certificate(s)"),
        ("time stamps", info.tsa_url or "none (signing works offline)"),
        ("trust anchor", info.trust_anchor or "-"),
    ]
    for name, value in rows:
        typer.echo(f"{name + ':':<14}{value}")
