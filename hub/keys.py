"""Key operations behind ``hub keys`` and ``hub storage rekey`` (no CLI here).

**Receipt key** (``[signing] receipt_key/receipt_cert`` plus ``receipt_rotation``, which
:class:`hub.receipts.ReceiptSigner` already supports: the newest valid certificate signs,
every configured one is published and accepted by ``hub audit verify`` and copied into each
evidence archive):

* :func:`receipt_csr` — a PKCS#10 request for the key signing now (or any key), so a real CA
  can certify it;
* :func:`rotate_receipt_key` — a new ECDSA P-256 key *beside* the old one, certified by a CA
  (the development CA of ``hub pki init`` when it is there) or, without a CA, a CSR to get
  certified; :func:`register_receipt_pair` adds a key and certificate to ``hub.toml`` as one
  more ``receipt_rotation`` entry (the old pair stays, so old receipts keep verifying).

**Storage key** (:mod:`hub.storage_crypto`): :func:`add_storage_key` puts a new key into the
key file and makes it current; :func:`rekey_storage` re-encrypts every stored package under
the current key, page by page with compare-and-set, skipping blobs already under it.

Configuration files are edited as text, never re-serialised, so comments and layout survive;
every edit is parsed back and checked before it replaces the file (atomically).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.config import Settings, load_settings
from hub.errors import ConfigError, KeyOperationRefused
from hub.models import Event
from hub.storage_crypto import ENV_KEY_FILE, MAGIC, BlobCipher, load_key_file, seal, unseal
from hub.store import Store
from signing.pki import (
    PrivateKey,
    issue_certificate,
    key_usage,
    load_certificates,
    load_private_key,
    save_certificate,
    save_private_key,
)

# -- receipt key ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptPair:
    """A configured receipt key and its certificate (absolute paths)."""

    key: Path
    cert: Path


def receipt_pairs(settings: Settings) -> list[ReceiptPair]:
    """Every configured receipt pair: ``receipt_key/receipt_cert`` first, then rotation."""
    return [
        ReceiptPair(settings.receipt_key, settings.receipt_cert),
        *(ReceiptPair(k, c) for k, c in settings.receipt_rotation),
    ]


def signing_pair(settings: Settings, now: datetime) -> ReceiptPair:
    """The pair that signs at ``now``: the newest valid certificate (latest notBefore), or
    the first pair if none is valid — the rule of :meth:`ReceiptSigner.current`."""
    pairs = receipt_pairs(settings)
    valid = []
    for pair in pairs:
        cert = _certificate(pair.cert)
        if cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            valid.append((cert.not_valid_before_utc, pair))
    if not valid:
        return pairs[0]
    return max(valid, key=lambda item: item[0])[1]


def _certificate(path: Path) -> x509.Certificate:
    try:
        return load_certificates(path)[0]
    except (OSError, ValueError, IndexError) as exc:
        raise KeyOperationRefused(f"certificate {path}: {exc}") from exc


def _private_key(path: Path) -> PrivateKey:
    try:
        return load_private_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyOperationRefused(f"private key {path}: {exc}") from exc


def parse_subject(text: str) -> x509.Name:
    """An RFC 4514 distinguished name (``CN=Hub receipt signer,O=…,C=VN``; UTF-8 allowed)."""
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise KeyOperationRefused(f"subject {text!r}: {exc}") from exc
    if not name.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise KeyOperationRefused(f"subject {text!r}: needs a CN")
    return name


def make_csr(key: PrivateKey, subject: x509.Name) -> bytes:
    """A PEM PKCS#10 request for ``key``: digitalSignature and nonRepudiation (what receipts
    and checkpoints are for), signed with SHA-256."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(
            key_usage(),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def receipt_csr(
    settings: Settings,
    now: datetime,
    *,
    key_path: Path | None = None,
    subject: str | None = None,
) -> bytes:
    """A CSR for the receipt key signing now (or ``key_path``). The subject defaults to that
    key's current certificate's subject; a key without a certificate needs ``subject``."""
    cert_path: Path | None
    if key_path is None:
        pair = signing_pair(settings, now)
        key_path, cert_path = pair.key, pair.cert
    else:
        cert_path = next((p.cert for p in receipt_pairs(settings) if p.key == key_path), None)
    key = _private_key(key_path)
    if subject is not None:
        name = parse_subject(subject)
    elif cert_path is not None:
        name = _certificate(cert_path).subject
    else:
        raise KeyOperationRefused(f"{key_path} has no configured certificate: give --subject")
    return make_csr(key, name)


@dataclass(frozen=True, slots=True)
class Rotation:
    """What :func:`rotate_receipt_key` wrote."""

    key: Path
    cert: Path | None  # None: no CA, ``csr`` is to be certified first
    csr: Path | None


def dev_ca(settings: Settings) -> tuple[Path, Path] | None:
    """The development CA of ``hub pki init`` (``PKI/ca.pem``, ``PKI/ca-key.pem`` beside
    ``PKI/hub/``) if the receipt key lives in that layout."""
    pki = settings.receipt_key.parent.parent
    cert, key = pki / "ca.pem", pki / "ca-key.pem"
    return (cert, key) if cert.is_file() and key.is_file() else None


def rotate_receipt_key(
    settings: Settings,
    now: datetime,
    *,
    ca: tuple[Path, Path] | None,
    valid_days: int = 825,
    not_before: datetime | None = None,
    subject: str | None = None,
) -> Rotation:
    """Write a new receipt key beside the current one (``key-<UTC stamp>.pem``, mode 0600)
    and, with a CA ``(cert, key)``, its certificate ``cert-<stamp>.pem``; without a CA, a
    CSR ``key-<stamp>.csr`` instead. Nothing existing is overwritten."""
    directory = settings.receipt_key.parent
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    key_path, cert_path, csr_path = (
        directory / f"key-{stamp}.pem",
        directory / f"cert-{stamp}.pem",
        directory / f"key-{stamp}.csr",
    )
    for path in (key_path, cert_path, csr_path):
        if path.exists():
            raise KeyOperationRefused(f"{path} exists; not overwriting a key or certificate")
    current = _certificate(signing_pair(settings, now).cert)
    name = parse_subject(subject) if subject else current.subject
    if ca is None:
        key: PrivateKey = ec.generate_private_key(ec.SECP256R1())
        save_private_key(key_path, key)
        csr_path.write_bytes(make_csr(key, name))
        return Rotation(key=key_path, cert=None, csr=csr_path)
    ca_cert, ca_key = _certificate(ca[0]), _private_key(ca[1])
    cn = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    ou = name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    new_key, cert = issue_certificate(
        ca_key,
        ca_cert,
        str(cn[0].value) if cn else "Hub receipt signer",
        key_type="ec-p256",
        organizational_unit=str(ou[0].value) if ou else "hub",
        valid_days=valid_days,
        not_before=not_before,
    )
    save_private_key(key_path, new_key)
    save_certificate(cert_path, cert)
    return Rotation(key=key_path, cert=cert_path, csr=None)


def check_pair(key_path: Path, cert_path: Path) -> x509.Certificate:
    """The certificate, once it is known to certify exactly this key."""
    key, cert = _private_key(key_path), _certificate(cert_path)
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise KeyOperationRefused(f"{cert_path} does not certify the key in {key_path}")
    return cert


# -- editing configuration files as text ----------------------------------------------------------


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _relative(path: Path, base: Path) -> str:
    return os.path.relpath(path.resolve(), base.resolve())


def _section_span(text: str, header: str) -> tuple[int, int] | None:
    """Start and end offsets of the body of ``[header]`` (up to the next table header)."""
    match = re.search(rf"(?m)^[ \t]*\[{re.escape(header)}\][ \t]*(#.*)?$", text)
    if match is None:
        return None
    nxt = re.search(r"(?m)^[ \t]*\[", text[match.end() :])
    end = match.end() + nxt.start() if nxt else len(text)
    return match.end(), end


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A change to a configuration file: the text to add (shown to the operator) and the
    whole new file (written by :func:`write_atomically` when applying)."""

    path: Path
    lines: str
    new_text: str


def rotation_change(config_dir: Path, key: Path, cert: Path) -> ConfigChange:
    """``hub.toml`` with one more ``[signing] receipt_rotation`` pair, everything else as it
    was. Handles an inline array (``receipt_rotation = [...]``) and array-of-tables form."""
    path = config_dir / "hub.toml"
    text = path.read_text(encoding="utf-8")
    base = config_dir
    k, c = _toml_string(_relative(key, base)), _toml_string(_relative(cert, base))
    span = _section_span(text, "signing")
    inline = None
    if span is not None:
        inline = re.search(r"(?m)^[ \t]*receipt_rotation[ \t]*=[ \t]*\[", text[span[0] : span[1]])
    if inline is not None:
        at = span[0] + inline.end() if span else 0
        entry = f"{{key = {k}, cert = {c}}}, "
        lines = f"[signing] receipt_rotation: add {entry.rstrip(', ')}"
        new_text = text[:at] + entry + text[at:]
    else:
        lines = f"[[signing.receipt_rotation]]\nkey = {k}\ncert = {c}\n"
        new_text = text + ("" if text.endswith("\n") else "\n") + "\n" + lines
    _check_parses(path, new_text)
    return ConfigChange(path=path, lines=lines, new_text=new_text)


def _check_parses(path: Path, text: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - our edit broke the file
        raise KeyOperationRefused(f"{path}: the edited file would not parse ({exc})") from exc


def write_atomically(change: ConfigChange, mode: int | None = None) -> None:
    """Replace the file (same directory, fsync, rename); keep its mode unless ``mode``."""
    path = change.path
    keep = mode if mode is not None else (path.stat().st_mode & 0o7777 if path.exists() else 0o644)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, keep)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(change.new_text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def register_receipt_pair(config_dir: Path, key: Path, cert: Path) -> ConfigChange:
    """The ``hub.toml`` change that adds (key, cert) as a receipt rotation pair, after
    checking that the certificate certifies the key and that the pair is not configured."""
    check_pair(key, cert)
    settings = load_settings(config_dir)
    if any(p.key == key.resolve() or p.cert == cert.resolve() for p in receipt_pairs(settings)):
        raise KeyOperationRefused(f"{key} / {cert} is already configured")
    change = rotation_change(config_dir, key, cert)
    return change


# -- storage key ------------------------------------------------------------------------------


def read_new_key(path: Path) -> bytes:
    """A new storage key: base64 of 32 random bytes (``openssl rand -base64 32 > FILE``)."""
    try:
        raw = path.read_text(encoding="ascii").strip()
        key = base64.b64decode(raw, validate=True)
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise KeyOperationRefused(f"new key {path}: {exc}") from exc
    if len(key) != 32:
        raise KeyOperationRefused(f"new key {path}: {len(key)} bytes, AES-256 needs 32")
    return key


def storage_key_file(config_dir: Path, env: dict[str, str] | None = None) -> Path | None:
    """The configured key file (``HUB_ENCRYPTION_KEY_FILE`` or ``[storage]
    encryption_key_file``), or ``None`` when encryption is off."""
    environ = dict(os.environ) if env is None else env
    base = config_dir.resolve()
    setting = environ.get(ENV_KEY_FILE, "")
    if not setting:
        hub_toml = base / "hub.toml"
        doc = tomllib.loads(hub_toml.read_text(encoding="utf-8")) if hub_toml.exists() else {}
        storage = doc.get("storage", {})
        setting = str(storage.get("encryption_key_file", "")) if isinstance(storage, dict) else ""
    if not setting:
        return None
    path = Path(setting)
    return path if path.is_absolute() else base / path


@dataclass(frozen=True, slots=True)
class StorageKeyPlan:
    """Where the new storage key stands in the configuration."""

    key_id: str
    ready: bool  # the key file holds the key and it is current: re-encryption may run
    changes: tuple[ConfigChange, ...]  # what to write first (key file, maybe hub.toml)


def plan_storage_key(
    config_dir: Path, new_key: bytes, key_id: str, env: dict[str, str] | None = None
) -> StorageKeyPlan:
    """Compare the key file with the new key: ready, or the edits that make it current
    (the old keys stay: blobs under them are read with them until the rekey completes).

    With encryption off, the plan creates ``storage-keys.toml`` beside ``hub.toml`` and
    points ``[storage] encryption_key_file`` at it."""
    if not key_id or not key_id.isascii() or len(key_id) > 255 or '"' in key_id:
        raise KeyOperationRefused(f"key id {key_id!r}: 1-255 ASCII characters, no quotes")
    path = storage_key_file(config_dir, env)
    b64 = base64.b64encode(new_key).decode("ascii")
    if path is None:
        key_file = config_dir / "storage-keys.toml"
        if key_file.exists():
            raise KeyOperationRefused(
                f"{key_file} exists but [storage] encryption_key_file does not name it"
            )
        hub_toml = config_dir / "hub.toml"
        text = hub_toml.read_text(encoding="utf-8")
        span = _section_span(text, "storage")
        line = 'encryption_key_file = "storage-keys.toml"\n'
        if span is None:
            lines = "[storage]\n" + line
            new_hub = text + ("" if text.endswith("\n") else "\n") + "\n" + lines
        else:
            lines = "[storage] " + line
            new_hub = text[: span[0]] + "\n" + line.rstrip("\n") + text[span[0] :]
        _check_parses(hub_toml, new_hub)
        body = f'current = {_toml_string(key_id)}\n\n[keys]\n{_toml_string(key_id)} = "{b64}"\n'
        return StorageKeyPlan(
            key_id,
            False,
            (
                ConfigChange(key_file, body.replace(b64, "<base64 of the new key>"), body),
                ConfigChange(hub_toml, lines, new_hub),
            ),
        )
    cipher = load_key_file(path)
    text = path.read_text(encoding="utf-8")
    doc = _check_parses(path, text)
    keys = doc.get("keys", {})
    assert isinstance(keys, dict)  # load_key_file checked
    held = {str(k): str(v) for k, v in keys.items()}
    same_value = [k for k, v in held.items() if _b64_equal(v, new_key)]
    if same_value:
        key_id = same_value[0]  # the key is there already (a re-run): keep its id
    elif key_id in held:
        raise KeyOperationRefused(f"{path}: key id {key_id!r} exists with another key")
    if same_value and cipher.current == key_id:
        return StorageKeyPlan(key_id, True, ())
    new_text = text
    shown: list[str] = []
    if not same_value:
        span = _section_span(new_text, "keys")
        assert span is not None  # load_key_file required [keys]
        entry = f'{_toml_string(key_id)} = "{b64}"'
        new_text = new_text[: span[0]] + "\n" + entry + new_text[span[0] :]
        shown.append(f'[keys] {_toml_string(key_id)} = "<base64 of the new key>"')
    current = re.search(r'(?m)^[ \t]*current[ \t]*=[ \t]*"[^"\n]*"', new_text)
    if current is None:
        raise KeyOperationRefused(f'{path}: no current = "…" line to change')
    new_text = (
        new_text[: current.start()]
        + f"current = {_toml_string(key_id)}"
        + new_text[current.end() :]
    )
    shown.insert(0, f"current = {_toml_string(key_id)}")
    doc2 = _check_parses(path, new_text)
    if doc2.get("current") != key_id:  # pragma: no cover - the line was in another table
        raise KeyOperationRefused(f"{path}: could not set current = {key_id!r}")
    return StorageKeyPlan(key_id, False, (ConfigChange(path, "\n".join(shown), new_text),))


def _b64_equal(value: str, key: bytes) -> bool:
    try:
        return base64.b64decode(value, validate=True) == key
    except (binascii.Error, ValueError):
        return False


def sealed_key_id(blob: bytes) -> str | None:
    """The key id a stored blob names, or ``None`` for a plaintext (or purged) blob."""
    if not blob.startswith(MAGIC) or len(blob) <= len(MAGIC):
        return None
    n = blob[len(MAGIC)]
    return blob[len(MAGIC) + 1 : len(MAGIC) + 1 + n].decode("ascii", "replace")


@dataclass
class RekeyReport:
    """What :func:`rekey_storage` did (counts over this run)."""

    key_id: str
    total: int = 0  # stored blobs (purged ones included)
    rekeyed: int = 0  # re-encrypted by this run
    already: int = 0  # under the new key before this run looked at them
    skipped: int = 0  # purged (empty): nothing to encrypt
    raced: int = 0  # changed by someone else between read and write (left to a re-run)
    complete: bool = False  # every blob was listed and none is left under another key

    @property
    def remaining(self) -> int:
        """Blobs not under the new key after this run (a re-run continues with them)."""
        return self.total - self.skipped - self.already - self.rekeyed


#: blobs read and written per transaction (bounded: a package is at most 20 MB by default)
REKEY_BATCH = 32
#: ids and headers listed per page
REKEY_PAGE = 500


async def rekey_storage(
    store: Store,
    cipher: BlobCipher,
    *,
    progress: Callable[[int, int], None] | None = None,
    stop_after: int | None = None,
    actor: str = "hub storage rekey",
) -> RekeyReport:
    """Re-encrypt every stored package whose blob is not under ``cipher.current``.

    Pages of ``(package_id, header)`` are listed by package id; a blob already under the
    current key id (it is in the header) is skipped, so a re-run continues where an
    interrupted one stopped. The others are read, decrypted with the key their header names,
    sealed with the current key and written back with compare-and-set on the exact old
    bytes, ``REKEY_BATCH`` per short transaction — a hub writing or purging meanwhile wins
    and the row is left for the next run. ``stop_after`` stops after that many re-encrypted
    blobs (tests interrupt a run with it). A chained ``storage.rekeyed`` event records the
    run."""
    target = cipher.current
    head_len = len(MAGIC) + 1 + len(target.encode("ascii"))
    report = RekeyReport(key_id=target, total=await store.count_blobs())
    after = ""
    listed_all = False

    def tick(n: int) -> None:
        if progress is not None:
            progress(n, report.total)

    while stop_after is None or report.rekeyed < stop_after:
        page = await store.blob_headers(after, REKEY_PAGE, head_len)
        if not page:
            listed_all = True
            break
        todo: list[str] = []
        for package_id, header, size in page:
            if size == 0:
                report.skipped += 1
            elif sealed_key_id(header) == target:
                report.already += 1
            else:
                todo.append(package_id)
        tick(len(page) - len(todo))
        after = page[-1][0]
        for i in range(0, len(todo), REKEY_BATCH):
            if stop_after is not None and report.rekeyed >= stop_after:
                break
            chunk = todo[i : i + REKEY_BATCH]
            if stop_after is not None:
                chunk = chunk[: stop_after - report.rekeyed]
            blobs = await store.stored_blobs(chunk)
            changes = []
            for package_id in chunk:
                old = blobs.get(package_id)
                if old is None or not old:
                    continue  # deleted or purged since the listing
                plain = unseal(cipher, package_id, old)
                changes.append((package_id, old, seal(cipher, package_id, plain)))
            replaced = await store.replace_blobs(changes)
            report.rekeyed += replaced
            report.raced += len(changes) - replaced
            tick(len(chunk))
    report.complete = listed_all and report.raced == 0
    if report.rekeyed:
        await store.append_event(
            Event(
                package_id=None,
                kind="storage.rekeyed",
                at=datetime.now(UTC),
                detail={"actor": actor, "key_id": target, "rekeyed": report.rekeyed},
            )
        )
    return report


def cipher_for(config_dir: Path, env: dict[str, str] | None = None) -> BlobCipher:
    """The configured cipher (the rekey target is its ``current``); refuses when off."""
    path = storage_key_file(config_dir, env)
    if path is None:
        raise ConfigError("encryption at rest is off: no key file configured")
    return load_key_file(path)
