"""C2PA signing credentials: a local CA made by ``synthmark keys init``, or the user's own.

C2PA validators reject a self-signed signing certificate, so :func:`init_local_ca` makes a
small chain: a root CA (``root-ca.pem``) and an ES256 signing certificate issued by it
(``signer.pem``, leaf then root) with the extended key usages validators accept
(``documentSigning`` and ``emailProtection``). Private keys are written with mode 0600 under
``keys/c2pa/`` in the home folder and never printed or logged.

:func:`load_credentials` picks, first match wins:

1. paths passed in (``cert=``, ``key=``);
2. paths in ``$SYNTHMARK_C2PA_CERT`` and ``$SYNTHMARK_C2PA_KEY``;
3. the local CA's signer under the home folder.

A time-stamp authority URL (RFC 3161) comes from ``tsa_url=`` or ``$SYNTHMARK_C2PA_TSA_URL``;
without one, signing works offline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from synthmark.errors import KeyMissing, UsageError
from synthmark.imaging import atomic_write
from synthmark.settings import C2PA_CERT_ENV as ENV_CERT
from synthmark.settings import C2PA_KEY_ENV as ENV_KEY
from synthmark.settings import C2PA_TSA_ENV as ENV_TSA
from synthmark.settings import Settings

#: Extended key usages C2PA validators accept for a claim signer (c2pa-rs's default list,
#: less timeStamping and OCSPSigning, which belong to other roles).
C2PA_SIGNING_EKUS = {
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.311.76.59.1.9": "Microsoft C2PA signing",
    "1.3.6.1.4.1.62558.2.1": "c2pa claimSigning",
}
_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True)
class LocalCaPaths:
    """Where ``synthmark keys init`` keeps the local CA and its signer."""

    folder: Path
    root_cert: Path
    root_key: Path
    signer_chain: Path
    signer_key: Path

    @classmethod
    def under(cls, keys_dir: Path) -> LocalCaPaths:
        folder = keys_dir / "c2pa"
        return cls(
            folder=folder,
            root_cert=folder / "root-ca.pem",
            root_key=folder / "root-ca.key",
            signer_chain=folder / "signer.pem",
            signer_key=folder / "signer.key",
        )

    def exists(self) -> bool:
        return self.signer_chain.is_file() and self.signer_key.is_file()


@dataclass(frozen=True)
class SigningCredentials:
    """A certificate chain (leaf first) and its private key, ready for c2pa's signer.

    The key is kept out of ``repr`` and JSON output.
    """

    cert_chain_pem: bytes = field(repr=False)
    private_key_pem: bytes = field(repr=False)
    alg: str = "es256"
    tsa_url: str | None = None
    source: str = "given"
    trust_anchor_pem: bytes | None = field(default=None, repr=False)


@dataclass
class CertificateInfo:
    """What ``synthmark keys show`` prints: facts about the chain, never the key."""

    source: str
    alg: str
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256_fingerprint: str
    extended_key_usages: list[str]
    chain_length: int
    tsa_url: str | None
    trust_anchor: str | None = None


#: Upper bound of X.509 commonName and organizationName (RFC 5280, ub-common-name).
_MAX_NAME = 64


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def init_local_ca(
    settings: Settings,
    *,
    organisation: str = "synthmark",
    common_name: str = "synthmark signer",
    days: int = 5 * 365,
    force: bool = False,
    now: dt.datetime | None = None,
) -> LocalCaPaths:
    """Create a root CA and an ES256 C2PA signing certificate under the home folder.

    Refuses to replace existing credentials unless ``force`` (signatures made with the old
    ones stay valid, but verifiers that trust the old CA will not trust the new one).
    Without a time stamp, a manifest is checked against the signer's validity period at
    reading time, hence the long default validity.
    """
    if days < 1:
        raise UsageError(f"days must be at least 1, got {days}")
    for option, value in (("--org", organisation), ("--common-name", common_name)):
        if not value.strip() or len(value) > _MAX_NAME:
            raise UsageError(
                f"{option} must be 1 to {_MAX_NAME} characters (the X.509 limit for a name), "
                f"got {len(value)}: {value!r}"
            )
    paths = LocalCaPaths.under(settings.keys_dir)
    if paths.exists() and not force:
        raise UsageError(
            f"C2PA credentials already exist in {paths.folder}; pass --force to replace them"
        )
    settings.ensure_private_dir(settings.home)
    settings.ensure_private_dir(settings.keys_dir)
    settings.ensure_private_dir(paths.folder)
    now = now or dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(minutes=5)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_common_name = f"{organisation} local root CA"
    if len(ca_common_name) > _MAX_NAME:  # the organisation is still named in O
        ca_common_name = "synthmark local root CA"
    ca_name = _name(ca_common_name, organisation)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days + 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organisation))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([_DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    atomic_write(paths.root_key, _pem_key(ca_key), mode=0o600)
    atomic_write(paths.signer_key, _pem_key(key), mode=0o600)
    atomic_write(paths.root_cert, ca_cert.public_bytes(pem), mode=0o644)
    atomic_write(paths.signer_chain, leaf.public_bytes(pem) + ca_cert.public_bytes(pem), 0o644)
    return paths


def _read(path: Path, what: str) -> bytes:
    try:
        return path.expanduser().read_bytes()
    except FileNotFoundError:
        raise KeyMissing(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise KeyMissing(f"cannot read {what} {path}: {exc.strerror}") from None


def _algorithm(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in algs:
            return algs[key.curve.name]
        raise UsageError(
            f"EC curve {key.curve.name} is not allowed by C2PA; use P-256, P-384 or P-521"
        )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise UsageError(f"{type(key).__name__} keys cannot sign C2PA manifests; use EC P-256")


def _public_bytes(obj: Any) -> bytes:
    public = obj.public_key()
    data: bytes = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def _ekus(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return []
    return [oid.dotted_string for oid in ext.value]


def validate_credentials(
    chain_pem: bytes, key_pem: bytes, *, where: str, now: dt.datetime | None = None
) -> str:
    """Check a chain and key before c2pa sees them; returns the signing algorithm.

    Raises :class:`~synthmark.errors.UsageError` naming what is wrong and how to fix it.
    """
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise UsageError(f"{where}: the certificate file holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise UsageError(
            f"{where}: the private key is encrypted; give an unencrypted PEM key (mode 0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise UsageError(f"{where}: the key file holds no PEM private key") from None
    leaf = certs[0]
    if _public_bytes(key) != _public_bytes(leaf):
        raise UsageError(
            f"{where}: the private key does not belong to the first certificate of the chain"
        )
    if len(certs) == 1 and leaf.issuer == leaf.subject:
        raise UsageError(
            f"{where}: the signing certificate is self-signed, which C2PA validators reject; "
            "run `synthmark keys init` for a local CA chain, or give a CA-issued chain"
        )
    now = now or dt.datetime.now(dt.timezone.utc)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise UsageError(
            f"{where}: the signing certificate is valid from {leaf.not_valid_before_utc:%Y-%m-%d}"
            f" to {leaf.not_valid_after_utc:%Y-%m-%d}, not now; renew it "
            "(`synthmark keys init --force` for the local CA)"
        )
    if not set(_ekus(leaf)) & set(C2PA_SIGNING_EKUS):
        names = ", ".join(C2PA_SIGNING_EKUS.values())
        raise UsageError(
            f"{where}: the signing certificate has no extended key usage C2PA accepts "
            f"(one of: {names})"
        )
    return _algorithm(key)


def load_credentials(
    settings: Settings,
    *,
    cert: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    tsa_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SigningCredentials:
    """The signing credentials to use (see the module docstring for the order).

    ``settings`` name the certificate, key and time-stamp authority of the environment
    (:meth:`Settings.from_env`); ``environ``, if given, is read instead (``{}``: the home
    folder's local CA only).

    Raises:
        KeyMissing: nothing configured, or a named file is missing.
        UsageError: a certificate or key that cannot sign C2PA manifests.
    """
    named = settings if environ is None else Settings.from_env(settings.home, environ)
    if (cert is None) != (key is None):
        raise UsageError("give both a certificate chain and a private key, or neither")
    tsa = tsa_url or named.tsa_url
    if tsa is not None and not tsa.startswith(("http://", "https://")):
        raise UsageError(f"time-stamp authority URL must be http(s), got {tsa!r}")
    local = LocalCaPaths.under(settings.keys_dir)
    anchor: bytes | None = None
    if cert is not None and key is not None:
        cert_path, key_path, source = Path(cert), Path(key), f"files {cert} + {key}"
    elif named.c2pa_cert or named.c2pa_key:
        if not (named.c2pa_cert and named.c2pa_key):
            raise UsageError(f"set both {ENV_CERT} and {ENV_KEY}, or neither")
        cert_path, key_path = Path(named.c2pa_cert), Path(named.c2pa_key)
        source = f"${ENV_CERT} + ${ENV_KEY}"
    elif local.exists():
        cert_path, key_path, source = local.signer_chain, local.signer_key, "local CA"
        anchor = local.root_cert.read_bytes() if local.root_cert.is_file() else None
    else:
        raise KeyMissing(
            "no C2PA signing credentials: run `synthmark keys init`, or set "
            f"{ENV_CERT} and {ENV_KEY} to your certificate chain and private key"
        )
    chain_pem = _read(cert_path, "certificate chain")
    key_pem = _read(key_path, "private key")
    alg = validate_credentials(chain_pem, key_pem, where=source)
    return SigningCredentials(
        cert_chain_pem=chain_pem,
        private_key_pem=key_pem,
        alg=alg,
        tsa_url=tsa,
        source=source,
        trust_anchor_pem=anchor,
    )


def local_trust_anchor(settings: Settings) -> bytes | None:
    """The local CA's root certificate (PEM), to read our manifests back as ``Trusted``."""
    path = LocalCaPaths.under(settings.keys_dir).root_cert
    return path.read_bytes() if path.is_file() else None


def describe_credentials(creds: SigningCredentials, settings: Settings) -> CertificateInfo:
    """Facts about a credential's chain, for people; the key stays out."""
    certs = x509.load_pem_x509_certificates(creds.cert_chain_pem)
    leaf = certs[0]
    anchor = LocalCaPaths.under(settings.keys_dir).root_cert
    return CertificateInfo(
        source=creds.source,
        alg=creds.alg,
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        sha256_fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER))
        .hexdigest()
        .upper(),
        extended_key_usages=[C2PA_SIGNING_EKUS.get(oid, oid) for oid in _ekus(leaf)],
        chain_length=len(certs),
        tsa_url=creds.tsa_url,
        trust_anchor=str(anchor) if creds.trust_anchor_pem and anchor.is_file() else None,
    )


__all__ = [
    "C2PA_SIGNING_EKUS",
    "ENV_CERT",
    "ENV_KEY",
    "ENV_TSA",
    "CertificateInfo",
    "LocalCaPaths",
    "SigningCredentials",
    "describe_credentials",
    "init_local_ca",
    "load_credentials",
    "local_trust_anchor",
    "validate_credentials",
]
