"""Strict enveloped XMLDSig: one signature over the whole document, ``URI=""``.

Design (after signxml's verifier: a frozen configuration, and verification returns only
what was signed):

* :func:`verify_enveloped` checks the *structure* of the signature against a narrow profile
  before any cryptography runs, then verifies the SignatureValue over the canonical
  SignedInfo and the Reference digest over the exclusive canonical form of the document
  without its Signature. It returns :class:`VerifiedSignature`, whose ``signed_root`` is
  re-parsed from exactly the digested bytes: callers build their models from it and never
  from the tree they handed in, so comment splitting, wrapping and other "what the
  verifier saw is not what the application reads" attacks have nothing to work with.
* :func:`sign_enveloped` inserts the Signature textually into the original bytes, so the
  rest of the document (Vietnamese text, attribute quoting, whitespace) stays byte-exact.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import threading
import xml.parsers.expat
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree

from .algorithms import (
    C14N_10,
    DIGEST_METHODS,
    DS_NS,
    ENVELOPED_SIGNATURE,
    EXC_C14N,
    EXC_C14N_NS,
    SIGNATURE_METHODS,
    SIGNING_DIGESTS,
)
from .errors import (
    AlgorithmForbidden,
    SignatureInvalid,
    SignatureMissing,
    SignatureProfileViolation,
    UnsafeXml,
)
from .policy import SignaturePolicy

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_DS: Final = "{" + DS_NS + "}"
_SIGNATURE: Final = _DS + "Signature"
_SIGNED_INFO: Final = _DS + "SignedInfo"
_C14N_METHOD: Final = _DS + "CanonicalizationMethod"
_SIGNATURE_METHOD: Final = _DS + "SignatureMethod"
_REFERENCE: Final = _DS + "Reference"
_TRANSFORMS: Final = _DS + "Transforms"
_TRANSFORM: Final = _DS + "Transform"
_DIGEST_METHOD: Final = _DS + "DigestMethod"
_DIGEST_VALUE: Final = _DS + "DigestValue"
_SIGNATURE_VALUE: Final = _DS + "SignatureValue"
_KEY_INFO: Final = _DS + "KeyInfo"
_X509_DATA: Final = _DS + "X509Data"
_X509_CERTIFICATE: Final = _DS + "X509Certificate"
_INCLUSIVE_NAMESPACES: Final = "{" + EXC_C14N_NS + "}InclusiveNamespaces"
_XML_NS_PREFIX: Final = "{http://www.w3.org/XML/1998/namespace}"

# X509Data children that are mere hints about the certificate. Real Vietnamese packages
# carry X509SubjectName next to X509Certificate; we ignore them (only the certificate
# itself is used, and it is what trust validation checks).
_X509_HINTS: Final = frozenset({_DS + "X509SubjectName", _DS + "X509IssuerSerial", _DS + "X509SKI"})
_ALLOWED_ATTRS: Final[dict[str, frozenset[str]]] = {
    _SIGNATURE: frozenset({"Id"}),
    _SIGNED_INFO: frozenset({"Id"}),
    _C14N_METHOD: frozenset({"Algorithm"}),
    _SIGNATURE_METHOD: frozenset({"Algorithm"}),
    # No Type: Type="…#Object" / "…#Manifest" would point the reference elsewhere.
    _REFERENCE: frozenset({"Id", "URI"}),
    _TRANSFORMS: frozenset(),
    _TRANSFORM: frozenset({"Algorithm"}),
    _DIGEST_METHOD: frozenset({"Algorithm"}),
    _DIGEST_VALUE: frozenset(),
    _SIGNATURE_VALUE: frozenset({"Id"}),
    _KEY_INFO: frozenset({"Id"}),
    _X509_DATA: frozenset(),
    _X509_CERTIFICATE: frozenset(),
}
_NCNAME: Final = re.compile(r"^[A-Za-z_][\w.\-]*$")
_XML_DECL: Final = re.compile(rb"^<\?xml[ \t\r\n]+version[ \t\r\n]*=[^?]*\?>")
_ENCODING: Final = re.compile(rb"encoding[ \t\r\n]*=[ \t\r\n]*[\"']([A-Za-z0-9._\-]+)[\"']")
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_DEFAULT_SIGN_LIMIT: Final = 64 * 1024 * 1024
# Texts at least this long are spliced into the canonical form rather than canonicalised by
# libxml2 (see _digest_spliced); written to the digest and the parser this many at a time.
_SPLICE_MIN = 1024 * 1024
_SPLICE_PIECE: Final = 1024 * 1024

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_EC_CURVES: Final = frozenset({"secp256r1", "secp384r1", "secp521r1"})


@dataclass(frozen=True)
class VerifiedSignature:
    """The outcome of a successful :func:`verify_enveloped`.

    Only ``signed_xml`` / ``signed_root`` may be trusted as document content: they are
    exactly what the Reference digest covered (exclusive or, in legacy mode, inclusive
    canonical form of the document with the Signature removed and without comments).
    """

    signed_root: etree._Element
    certificate: x509.Certificate
    fingerprint_sha256: str
    signature_method: str
    digest_method: str
    canonicalization: str
    legacy: bool
    intermediates: tuple[x509.Certificate, ...] = ()
    #: how the Reference canonicalised the document: ("exc" | "inc", InclusiveNamespaces)
    reference_c14n: tuple[str, tuple[str, ...]] = ("exc", ())

    @property
    def signed_xml(self) -> bytes:
        """The digested canonical bytes, computed on demand from ``signed_root``.

        ``signed_root`` was parsed from exactly those bytes and canonical XML is a fixed
        point (canonicalising the parse of a canonical form gives the same bytes), so this
        is what the digest covered. Not kept: for a large package it would be one more whole
        copy of the document in memory.
        """
        kind, prefixes = self.reference_c14n
        return etree.tostring(
            self.signed_root.getroottree(),  # with any PI before or after the root
            method="c14n",
            exclusive=kind == "exc",
            with_comments=False,
            inclusive_ns_prefixes=list(prefixes) or None,
        )


@dataclass(frozen=True)
class _Parts:
    """The checked pieces of a Signature, gathered before any cryptography."""

    signed_info: etree._Element
    c14n_method: str
    c14n_prefixes: tuple[str, ...]
    signature_method: str
    # "exc" or "inc": how the document is canonicalised for the Reference digest.
    reference_c14n: str
    reference_prefixes: tuple[str, ...]
    digest_method: str
    digest_value: bytes
    signature_value: bytes
    certificates_der: tuple[bytes, ...]
    legacy: bool


# --------------------------------------------------------------------------- parsing

_local = threading.local()


def _parser(*, huge: bool = False) -> etree.XMLParser:
    """The hardened parser of this thread (lxml parsers must not be shared across threads).

    ``huge`` lifts libxml2's 10 MB cap on one text node (an attachment's base64 may be far
    larger), and with it libxml2's nesting limit. It is used only for input that is not
    untrusted raw bytes: the canonical form of a tree that was already parsed (the caller's
    parser bounded its depth) and a document the caller is signing itself. Untrusted bytes
    handed to :func:`verify_enveloped` keep the strict parser.
    """
    attr = "huge_parser" if huge else "parser"
    parser: etree.XMLParser | None = getattr(_local, attr, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=huge,
            remove_blank_text=False,
            remove_comments=False,
            remove_pis=False,
        )
        setattr(_local, attr, parser)
    return parser


def _check_bytes(data: bytes, max_bytes: int) -> None:
    """Refuse, before parsing, what the safe parser must never see."""
    if len(data) > max_bytes:
        raise UnsafeXml(f"document of {len(data)} bytes exceeds the limit of {max_bytes}")
    # Only look at the first bytes: slicing the whole document would copy it.
    head = data[:515]
    if head.startswith(_UTF8_BOM):
        head = head[3:]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4]:
        raise UnsafeXml("document is not UTF-8 (UTF-16/32 byte order mark or NUL bytes)")
    decl = _XML_DECL.match(head)
    if decl is not None:
        enc = _ENCODING.search(decl.group(0))
        if enc is not None and enc.group(1).lower() not in (b"utf-8", b"utf8"):
            raise UnsafeXml(f"declared encoding {enc.group(1).decode()!r} is not UTF-8")
    # A byte scan is deliberately blunt: no legitimate package needs a DTD, and refusing
    # a comment that merely mentions "<!DOCTYPE" is a price worth paying for never handing
    # a DTD to any parser.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXml("DOCTYPE / entity declarations are not allowed")


def _parse(data: bytes, max_bytes: int, *, huge: bool = False) -> etree._ElementTree:
    _check_bytes(data, max_bytes)
    try:
        root = etree.fromstring(data, _parser(huge=huge))
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise UnsafeXml(f"XML not well-formed: {exc.msg} (line {line}, column {column})") from exc
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None:  # defence in depth; the scan should stop it
        raise UnsafeXml("document has a DTD")
    return tree


def _as_tree(doc: bytes | etree._Element, max_bytes: int) -> tuple[etree._ElementTree, bool]:
    """Return the document tree and whether it is ours (safe to mutate permanently)."""
    if isinstance(doc, bytes | bytearray | memoryview):
        return _parse(bytes(doc), max_bytes), True
    if not isinstance(doc, etree._Element):
        raise TypeError("doc must be bytes or an lxml element")
    tree = doc.getroottree()
    if tree.docinfo.internalDTD is not None:
        raise UnsafeXml("document has a DTD")
    return tree, False


# ------------------------------------------------------------------------- structure


def _is_element(node: etree._Element) -> bool:
    return isinstance(node.tag, str)


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _elements(el: etree._Element) -> list[etree._Element]:
    """Element children of a Signature-internal element; stray text is a profile error."""
    if el.text is not None and el.text.strip():
        raise SignatureProfileViolation(f"unexpected text in {_local_name(el.tag)}")
    out = []
    for child in el:
        if child.tail is not None and child.tail.strip():
            raise SignatureProfileViolation(f"unexpected text in {_local_name(el.tag)}")
        if _is_element(child):
            out.append(child)
    return out


def _expect(el: etree._Element, tag: str) -> None:
    if el.tag != tag:
        raise SignatureProfileViolation(
            f"expected ds:{_local_name(tag)}, found {el.tag!r}"
            + (" (ds:Object / ds:Manifest are not allowed)" if "Object" in el.tag else "")
        )
    extra = {str(name) for name in el.attrib} - _ALLOWED_ATTRS[tag]
    if extra:
        raise SignatureProfileViolation(
            f"attribute(s) {sorted(extra)} not allowed on ds:{_local_name(tag)}"
        )


def _leaf_text(el: etree._Element) -> str:
    if len(el):
        raise SignatureProfileViolation(f"ds:{_local_name(el.tag)} must hold text only")
    return el.text or ""


def _b64(text: str, what: str) -> bytes:
    try:
        # Base64 in real packages is wrapped (newlines, CR from "&#13;"); drop all whitespace.
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"{what} is not valid base64") from exc


def _resolve_parent(root: etree._Element, path: tuple[str, ...]) -> etree._Element:
    if root.tag != path[0]:
        raise SignatureProfileViolation(
            f"document element is {root.tag!r}, the policy expects {path[0]!r}"
        )
    node = root
    for step in path[1:]:
        matches = [child for child in node if child.tag == step]
        if len(matches) != 1:
            # Zero: the expected structure is absent. Several: a duplicated element is the
            # classic wrapping set-up; never pick "the first one".
            raise SignatureProfileViolation(
                f"expected exactly one {step!r} under {node.tag!r}, found {len(matches)}"
            )
        node = matches[0]
    return node


def _last_element_child(parent: etree._Element) -> etree._Element | None:
    for child in reversed(parent):
        if _is_element(child):
            return child
    return None


def _locate_signature(root: etree._Element, path: tuple[str, ...]) -> etree._Element:
    signatures = list(root.iter(_SIGNATURE))
    if not signatures:
        try:
            parent = _resolve_parent(root, path)
        except SignatureProfileViolation:
            parent = None
        last = _last_element_child(parent) if parent is not None else None
        if last is not None and _local_name(last.tag) == "Signature":
            raise SignatureProfileViolation(
                f"the Signature element at the signature place is in namespace "
                f"{last.tag.partition('}')[0].lstrip('{')!r}, not the XMLDSig namespace "
                f"{DS_NS!r} (placeholder, not a signature)"
            )
        raise SignatureMissing("the document carries no XMLDSig Signature")
    if len(signatures) > 1:
        raise SignatureProfileViolation(
            f"exactly one ds:Signature is allowed, found {len(signatures)}"
        )
    signature = signatures[0]
    if signature is root:
        raise SignatureProfileViolation(
            "ds:Signature is the document element (enveloping signature); only an enveloped "
            "signature is accepted"
        )
    parent = _resolve_parent(root, path)
    if signature.getparent() is not parent or _last_element_child(parent) is not signature:
        raise SignatureProfileViolation(
            f"ds:Signature must be the last element child of {path[-1]!r}"
        )
    return signature


def _prefix_list(method: etree._Element) -> tuple[str, ...]:
    """InclusiveNamespaces PrefixList of an exc-c14n method element, if any."""
    children = _elements(method)
    if not children:
        return ()
    if len(children) != 1 or children[0].tag != _INCLUSIVE_NAMESPACES:
        raise SignatureProfileViolation("only ec:InclusiveNamespaces may parametrise exc-c14n")
    incl = children[0]
    if set(incl.attrib.keys()) - {"PrefixList"} or len(incl):
        raise SignatureProfileViolation("malformed ec:InclusiveNamespaces")
    prefixes = tuple((incl.get("PrefixList") or "").split())
    for prefix in prefixes:
        # lxml/libxml2 do not honour "#default" in the prefix list, so the digest we would
        # compute could differ from the signer's: refuse rather than guess.
        if not _NCNAME.match(prefix):
            raise SignatureProfileViolation(f"unsupported InclusiveNamespaces prefix {prefix!r}")
    return prefixes


def _check_c14n_method(
    el: etree._Element, legacy_ok: bool, deferred: list[AlgorithmForbidden]
) -> tuple[str, tuple[str, ...], bool]:
    _expect(el, _C14N_METHOD)
    alg = el.get("Algorithm") or ""
    if alg == EXC_C14N:
        return alg, _prefix_list(el), False
    if alg == C14N_10:
        if not legacy_ok:
            deferred.append(
                AlgorithmForbidden(
                    "inclusive C14N 1.0 as CanonicalizationMethod requires the legacy flag"
                )
            )
        if _elements(el):
            raise SignatureProfileViolation("C14N 1.0 takes no parameters")
        return alg, (), True
    deferred.append(AlgorithmForbidden(f"CanonicalizationMethod {alg!r} is not allowed"))
    return alg, (), False


def _check_transforms(
    el: etree._Element, legacy_ok: bool, deferred: list[AlgorithmForbidden]
) -> tuple[str, tuple[str, ...], bool]:
    """Return (reference canonicalisation "exc"/"inc", prefix list, legacy)."""
    _expect(el, _TRANSFORMS)
    transforms = _elements(el)
    for t in transforms:
        _expect(t, _TRANSFORM)
    algs = [t.get("Algorithm") or "" for t in transforms]
    if not algs or algs[0] != ENVELOPED_SIGNATURE:
        raise SignatureProfileViolation(
            f"Transforms must start with enveloped-signature, found {algs!r}"
        )
    if _elements(transforms[0]):
        raise SignatureProfileViolation("enveloped-signature takes no parameters")
    if algs == [ENVELOPED_SIGNATURE, EXC_C14N]:
        return "exc", _prefix_list(transforms[1]), False
    if algs == [ENVELOPED_SIGNATURE, C14N_10] or algs == [ENVELOPED_SIGNATURE]:
        # With no explicit canonicalisation the node-set is serialised with C14N 1.0.
        if not legacy_ok:
            deferred.append(
                AlgorithmForbidden("inclusive C14N 1.0 transform requires the legacy flag")
            )
        if len(transforms) == 2 and _elements(transforms[1]):
            raise SignatureProfileViolation("C14N 1.0 takes no parameters")
        return "inc", (), True
    raise SignatureProfileViolation(
        f"Transforms must be exactly [enveloped-signature, exc-c14n], found {algs!r}"
    )


def _check_structure(signature: etree._Element, policy: SignaturePolicy) -> _Parts:
    legacy_ok = policy.allow_legacy
    # Algorithm refusals are collected and raised only once the whole structure is known
    # to be inside the profile, so a structural problem is always reported as such.
    deferred: list[AlgorithmForbidden] = []
    _expect(signature, _SIGNATURE)
    size = sum(len(node.text or "") + len(node.tail or "") for node in signature.iter())
    if size > policy.max_signature_bytes:
        raise SignatureProfileViolation(f"Signature content exceeds {policy.max_signature_bytes}")

    children = _elements(signature)
    if [c.tag for c in children] != [_SIGNED_INFO, _SIGNATURE_VALUE, _KEY_INFO]:
        names = [_local_name(c.tag) for c in children]
        raise SignatureProfileViolation(
            f"Signature children must be exactly SignedInfo, SignatureValue, KeyInfo; "
            f"found {names} (ds:Object / ds:Manifest are not allowed)"
        )
    signed_info, signature_value_el, key_info = children
    for child in children:
        _expect(child, child.tag)

    si_children = _elements(signed_info)
    if [c.tag for c in si_children] != [_C14N_METHOD, _SIGNATURE_METHOD, _REFERENCE]:
        raise SignatureProfileViolation(
            "SignedInfo children must be exactly CanonicalizationMethod, SignatureMethod "
            f"and one Reference; found {[_local_name(c.tag) for c in si_children]}"
        )
    c14n_el, sm_el, reference = si_children
    c14n_method, c14n_prefixes, legacy_c14n = _check_c14n_method(c14n_el, legacy_ok, deferred)

    # Reference: URI="" only (the whole document), no Type, enveloped + exc-c14n.
    _expect(reference, _REFERENCE)
    uri = reference.get("URI")
    if uri != "":
        raise SignatureProfileViolation(
            f'Reference URI must be "" (the whole document), found {uri!r}'
        )
    ref_children = _elements(reference)
    if [c.tag for c in ref_children] != [_TRANSFORMS, _DIGEST_METHOD, _DIGEST_VALUE]:
        raise SignatureProfileViolation(
            "Reference children must be exactly Transforms, DigestMethod, DigestValue"
        )
    transforms_el, dm_el, dv_el = ref_children
    ref_c14n, ref_prefixes, legacy_ref = _check_transforms(transforms_el, legacy_ok, deferred)

    # KeyInfo: one X509Data with the signer certificate (and optional intermediates).
    ki_children = _elements(key_info)
    if [c.tag for c in ki_children] != [_X509_DATA]:
        raise SignatureProfileViolation(
            "KeyInfo must hold exactly one X509Data (no KeyName, KeyValue, "
            f"RetrievalMethod…); found {[_local_name(c.tag) for c in ki_children]}"
        )
    x509_data = ki_children[0]
    _expect(x509_data, _X509_DATA)
    cert_texts: list[str] = []
    for child in _elements(x509_data):
        if child.tag == _X509_CERTIFICATE:
            _expect(child, _X509_CERTIFICATE)
            cert_texts.append(_leaf_text(child))
        elif child.tag not in _X509_HINTS:
            raise SignatureProfileViolation(f"X509Data may not contain {_local_name(child.tag)!r}")
    if not cert_texts:
        raise SignatureProfileViolation("X509Data must contain the signer's X509Certificate")
    if len(cert_texts) > policy.max_certificates:
        raise SignatureProfileViolation(f"more than {policy.max_certificates} certificates")

    # Algorithms (structure is known good now). HMAC is an algorithm decision, not a
    # structural one: it is refused as algorithm_forbidden like every unknown method.
    _expect(sm_el, _SIGNATURE_METHOD)
    _expect(dm_el, _DIGEST_METHOD)
    _expect(dv_el, _DIGEST_VALUE)
    sm = sm_el.get("Algorithm") or ""
    dm = dm_el.get("Algorithm") or ""
    if sm in SIGNATURE_METHODS and _elements(sm_el):
        raise SignatureProfileViolation("SignatureMethod takes no parameters")
    if dm in DIGEST_METHODS and _elements(dm_el):
        raise SignatureProfileViolation("DigestMethod takes no parameters")
    if deferred:
        raise deferred[0]
    if sm not in SIGNATURE_METHODS:
        raise AlgorithmForbidden(f"SignatureMethod {sm!r} is not allowed (HMAC, DSA, … refused)")
    legacy_sm = SIGNATURE_METHODS[sm][2]
    if legacy_sm and not legacy_ok:
        raise AlgorithmForbidden(f"SignatureMethod {sm!r} requires the legacy flag")
    if dm not in DIGEST_METHODS:
        raise AlgorithmForbidden(f"DigestMethod {dm!r} is not allowed")
    legacy_dm = DIGEST_METHODS[dm][1]
    if legacy_dm and not legacy_ok:
        raise AlgorithmForbidden(f"DigestMethod {dm!r} requires the legacy flag")

    return _Parts(
        signed_info=signed_info,
        c14n_method=c14n_method,
        c14n_prefixes=c14n_prefixes,
        signature_method=sm,
        reference_c14n=ref_c14n,
        reference_prefixes=ref_prefixes,
        digest_method=dm,
        digest_value=_b64(_leaf_text(dv_el), "DigestValue"),
        signature_value=_b64(_leaf_text(signature_value_el), "SignatureValue"),
        certificates_der=tuple(_b64(t, "X509Certificate") for t in cert_texts),
        legacy=legacy_c14n or legacy_ref or legacy_sm or legacy_dm,
    )


# ---------------------------------------------------------------------------- crypto


@functools.lru_cache(maxsize=1024)
def _certificate(der: bytes) -> tuple[x509.Certificate, str]:
    """Parsed certificate and its SHA-256 fingerprint, cached: the same agencies sign every
    package, and certificates are immutable values."""
    return x509.load_der_x509_certificate(der), hashlib.sha256(der).hexdigest()


def _load_certificates(
    ders: tuple[bytes, ...],
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    certs: list[x509.Certificate] = []
    seen: set[bytes] = set()
    for der in ders:
        if der in seen:
            continue
        seen.add(der)
        try:
            certs.append(_certificate(der)[0])
        except ValueError as exc:
            raise SignatureInvalid(f"unparsable X509Certificate: {exc}") from exc
    if len(certs) == 1:
        return certs[0], ()
    # Several certificates: the signer is the one that issued none of the others.
    leaves = [c for c in certs if not any(o is not c and o.issuer == c.subject for o in certs)]
    if len(leaves) != 1:
        raise SignatureProfileViolation("cannot tell the signer among the X509Certificates")
    signer = leaves[0]
    return signer, tuple(c for c in certs if c is not signer)


def _check_key(cert: x509.Certificate, family: str, policy: SignaturePolicy) -> None:
    try:
        key = cert.public_key()
    except ValueError as exc:
        raise SignatureInvalid(f"unusable public key in certificate: {exc}") from exc
    if family == "rsa":
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid("SignatureMethod is RSA but the certificate key is not")
        if key.key_size < policy.min_rsa_bits:
            raise AlgorithmForbidden(
                f"RSA key of {key.key_size} bits is below the minimum of {policy.min_rsa_bits}"
            )
    else:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise SignatureInvalid("SignatureMethod is ECDSA but the certificate key is not")
        if key.curve.name not in _EC_CURVES:
            raise AlgorithmForbidden(f"EC curve {key.curve.name} is not allowed")


def _verify_signature_value(
    cert: x509.Certificate, method: str, signature: bytes, data: bytes
) -> None:
    family, hash_name, _ = SIGNATURE_METHODS[method]
    algorithm = _HASHES[hash_name]()
    key = cert.public_key()
    try:
        if family == "rsa":
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)
            # XMLDSig 1.1 ECDSA values are raw r||s, each padded to the curve size.
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                raise SignatureInvalid(
                    f"ECDSA SignatureValue must be {2 * size} bytes (r||s), got {len(signature)}"
                )
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algorithm))
    except InvalidSignature as exc:
        raise SignatureInvalid("SignatureValue does not verify with the certificate key") from exc


def _c14n_signed_info(parts: _Parts) -> bytes:
    if parts.c14n_method == EXC_C14N:
        return etree.tostring(
            parts.signed_info,
            method="c14n",
            exclusive=True,
            with_comments=False,
            inclusive_ns_prefixes=list(parts.c14n_prefixes) or None,
        )
    # Inclusive C14N 1.0 of a subtree must also carry xml:* attributes inherited from
    # ancestors, which lxml does not add; refuse that corner rather than mis-verify.
    for ancestor in parts.signed_info.iterancestors():
        if any(str(name).startswith(_XML_NS_PREFIX) for name in ancestor.attrib):
            raise SignatureProfileViolation(
                "legacy C14N 1.0 SignedInfo under an element with xml:* attributes"
            )
    return etree.tostring(parts.signed_info, method="c14n", exclusive=False, with_comments=False)


def _c14n_without_signature(
    tree: etree._ElementTree, signature: etree._Element, parts: _Parts, owned: bool
) -> bytes:
    """Canonical form of the document with the Signature element removed (URI="" digest).

    ``tostring`` rather than writing to a file-like object: libxml2 hands a large text node
    to a writer in one piece, so a writer costs one more whole copy than ``tostring``.

    lxml cannot canonicalise "all but one subtree", so the Signature is detached for the
    duration. Its tail text belongs to the parent's content (the enveloped-signature
    transform removes only the element), so it is moved to the preceding node. For a
    caller's tree everything is put back exactly as it was; a tree we parsed ourselves is
    left as is.
    """
    parent = signature.getparent()
    assert parent is not None
    index = parent.index(signature)
    tail = signature.tail
    previous = signature.getprevious()
    saved_previous_tail = previous.tail if previous is not None else None
    saved_parent_text = parent.text
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(signature)
    try:
        return etree.tostring(
            tree,
            method="c14n",
            exclusive=parts.reference_c14n == "exc",
            with_comments=False,
            inclusive_ns_prefixes=list(parts.reference_prefixes) or None,
        )
    finally:
        if not owned:
            if previous is not None:
                previous.tail = saved_previous_tail
            parent.text = saved_parent_text
            signature.tail = tail
            parent.insert(index, signature)


def _c14n_text(text: str) -> bytes:
    """A text node as canonical XML writes it (C14N 1.0 and exclusive C14N alike)."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "&#xD;")
        .encode("utf-8")
    )


def _digest_spliced(
    tree: etree._ElementTree,
    signature: etree._Element,
    parts: _Parts,
    owned: bool,
    digest_name: str,
) -> tuple[bytes, etree._Element]:
    """Digest the canonical form of a tree we may change, and parse it into a new tree,
    without ever holding a large text node three times.

    ``tostring`` of a tree with one large text node holds it three times at its peak (the
    tree, libxml2's escaped copy, the output buffer), and parsing the result holds it as the
    canonical bytes and the new tree. Instead, every element whose only content is a text of
    :data:`_SPLICE_MIN` characters or more gets a unique marker as its text (the tree lets
    go of the large text; we keep it once, as a ``str``), the small rest is canonicalised,
    and the canonical form is produced piecewise — the bytes around the markers, and each
    large text escaped as C14N escapes text — into both the digest and a feed parser. The
    new tree is parsed from exactly the bytes digested, as before; the tree handed in is
    left emptied when a text was taken out of it (else as it is: it is small).
    """
    root = tree.getroot()
    token = secrets.token_hex(16)
    taken: list[tuple[bytes, str]] = []
    excluded = set(signature.iter())  # removed from the canonical form anyway
    for el in root.iter(etree.Element):
        if len(el) == 0 and el not in excluded and el.text and len(el.text) >= _SPLICE_MIN:
            label = f"hub-splice-{token}-{len(taken)}-end"
            taken.append((label.encode("ascii"), el.text))
            el.text = label  # the tree frees its copy of the large text
    canonical = _c14n_without_signature(tree, signature, parts, owned)
    if not taken:  # the usual small package: parse the canonical bytes in one go
        try:
            small_root = etree.fromstring(canonical, _parser(huge=True))
        except etree.XMLSyntaxError as exc:  # pragma: no cover - c14n output is well-formed
            raise SignatureInvalid(f"canonical form does not parse: {exc}") from exc
        return hashlib.new(digest_name, canonical).digest(), small_root
    root.clear()  # nobody reads the received tree again: free what is left of it
    digest = hashlib.new(digest_name)
    parser = etree.XMLParser(  # a new feed parser: a feed parser keeps state after a failure
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,  # the canonical form of an already parsed (depth-checked) tree
        remove_blank_text=False,
    )

    def emit(data: bytes) -> None:
        digest.update(data)
        parser.feed(data)

    start = 0
    view = memoryview(canonical)
    for marker, text in taken:
        at = canonical.find(marker, start)
        if at < 0 or canonical.find(marker, at + 1) >= 0:  # pragma: no cover - random token
            raise SignatureInvalid("canonical form does not hold the spliced text once")
        emit(bytes(view[start:at]))
        for offset in range(0, len(text), _SPLICE_PIECE):
            emit(_c14n_text(text[offset : offset + _SPLICE_PIECE]))
        start = at + len(marker)
    emit(bytes(view[start:]))
    view.release()
    del taken, canonical
    try:
        signed_root: etree._Element = parser.close()
    except etree.XMLSyntaxError as exc:  # pragma: no cover - c14n output is well-formed
        raise SignatureInvalid(f"canonical form does not parse: {exc}") from exc
    return digest.digest(), signed_root


def _refuse_unsigned_text_splits(root: etree._Element) -> None:
    """Refuse a comment or processing instruction next to text inside an element.

    ``URI=""`` drops comments from the digest, so ``<Subject>Good<!-- -->Evil</Subject>``
    verifies exactly like ``<Subject>GoodEvil</Subject>``, while a reader taking the first
    text node of the received tree sees "Good". Callers must read ``signed_root`` anyway; we
    also refuse such packages outright, because a recipient that verifies with another
    implementation and displays the received tree would show something other than what was
    signed. Comments standing between elements (as real SDK packages have) stay allowed.
    """
    for node in root.iter(etree.Comment, etree.ProcessingInstruction):
        parent = node.getparent()
        if parent is None:  # prolog or epilogue: outside the document element
            continue
        previous = node.getprevious()
        before = (previous.tail if previous is not None else parent.text) or ""
        if before.strip() or (node.tail or "").strip():
            raise SignatureProfileViolation(
                f"a comment or processing instruction splits the text of "
                f"<{_local_name(parent.tag)}> (line {node.sourceline}): text outside the "
                "signature's coverage inside a signed value"
            )


def verify_enveloped(
    doc: bytes | etree._Element, policy: SignaturePolicy, *, consume: bool = False
) -> VerifiedSignature:
    """Verify the single enveloped signature of ``doc`` under the strict profile.

    ``doc`` is either the raw bytes (parsed here with the safe parser: UTF-8 only, no DTD,
    no entities, no network) or an element of an already parsed tree (the whole tree is
    verified, as ``URI=""`` means the whole document). A caller's tree is left unchanged,
    but it is briefly modified during the call, so it must not be shared with another
    thread meanwhile.

    ``consume=True``: the caller hands its tree over and will not read it again (whatever
    the outcome). Texts of ``_SPLICE_MIN`` (1 MiB) or more are then taken out of it and
    spliced into the canonical form, and it is emptied (``clear()`` of the document
    element) before ``signed_root`` is built, so a large document is never held as two
    trees, nor its large texts as libxml2's C14N copies (see ``_digest_spliced``). A tree
    without such texts is left as it is. Bytes handed in are treated the same way.

    This does *not* decide whether the certificate is trusted: pass
    ``result.certificate`` and ``result.intermediates`` to :class:`signing.TrustStore`.

    Raises a :class:`signing.SigningError` subclass: ``UnsafeXml``, ``SignatureMissing``,
    ``SignatureProfileViolation``, ``AlgorithmForbidden`` or ``SignatureInvalid``.
    """
    tree, owned = _as_tree(doc, policy.max_document_bytes)
    root = tree.getroot()
    signature = _locate_signature(root, policy.signature_parent)
    parts = _check_structure(signature, policy)
    _refuse_unsigned_text_splits(root)

    certificate, intermediates = _load_certificates(parts.certificates_der)
    _check_key(certificate, SIGNATURE_METHODS[parts.signature_method][0], policy)

    # SignatureValue first: it authenticates SignedInfo, hence the DigestValue.
    _verify_signature_value(
        certificate, parts.signature_method, parts.signature_value, _c14n_signed_info(parts)
    )
    digest_name = DIGEST_METHODS[parts.digest_method][0]
    if consume or (owned and len(doc) >= _SPLICE_MIN):
        # The tree is ours to change: its large texts are taken out, so that neither the
        # tree and the canonical bytes nor the two trees hold them at the same time.
        digest, signed_root = _digest_spliced(tree, signature, parts, owned, digest_name)
        del root, tree, signature
        if not hmac.compare_digest(digest, parts.digest_value):
            raise SignatureInvalid("Reference digest does not match the document")
    else:
        signed_xml = _c14n_without_signature(tree, signature, parts, owned)
        digest = hashlib.new(digest_name, signed_xml).digest()
        if not hmac.compare_digest(digest, parts.digest_value):
            raise SignatureInvalid("Reference digest does not match the document")
        try:
            # huge: the canonical form of a parsed tree (its attachments may be large).
            signed_root = etree.fromstring(signed_xml, _parser(huge=True))
        except etree.XMLSyntaxError as exc:  # pragma: no cover - c14n output is well-formed
            raise SignatureInvalid(f"canonical form does not parse: {exc}") from exc
        del signed_xml  # kept as signed_root only (see VerifiedSignature.signed_xml)
    return VerifiedSignature(
        signed_root=signed_root,
        certificate=certificate,
        fingerprint_sha256=_certificate(certificate.public_bytes(serialization.Encoding.DER))[1],
        signature_method=parts.signature_method,
        digest_method=parts.digest_method,
        canonicalization=parts.c14n_method,
        legacy=parts.legacy,
        intermediates=intermediates,
        reference_c14n=(parts.reference_c14n, parts.reference_prefixes),
    )


# --------------------------------------------------------------------------- signing


def _find_end_tag_offset(data: bytes, path: tuple[str, ...]) -> int | None:
    """Byte offset of the ``</…>`` end tag of the (non-empty) element at ``path``, or None.

    The input has already passed the DTD check, so expat sees no entity declarations.
    """
    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    stack: list[str] = []
    found: list[int] = []

    def start(name: str, attrs: object) -> None:
        stack.append("{" + name if "}" in name else name)

    def end(name: str) -> None:
        if not found and tuple(stack) == path:
            found.append(parser.CurrentByteIndex)
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data, True)
    if not found:
        return None
    offset = found[0]
    return offset if data[offset : offset + 2] == b"</" else None


def _build_signature(
    digest_uri: str, method_uri: str, digest_value: bytes, certificate: x509.Certificate
) -> tuple[etree._Element, etree._Element, etree._Element]:
    nsmap = {"ds": DS_NS}
    sig = etree.Element(_SIGNATURE, nsmap=nsmap)
    signed_info = etree.SubElement(sig, _SIGNED_INFO)
    etree.SubElement(signed_info, _C14N_METHOD, Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _SIGNATURE_METHOD, Algorithm=method_uri)
    reference = etree.SubElement(signed_info, _REFERENCE, URI="")
    transforms = etree.SubElement(reference, _TRANSFORMS)
    etree.SubElement(transforms, _TRANSFORM, Algorithm=ENVELOPED_SIGNATURE)
    etree.SubElement(transforms, _TRANSFORM, Algorithm=EXC_C14N)
    etree.SubElement(reference, _DIGEST_METHOD, Algorithm=digest_uri)
    etree.SubElement(reference, _DIGEST_VALUE).text = base64.b64encode(digest_value).decode()
    value = etree.SubElement(sig, _SIGNATURE_VALUE)
    key_info = etree.SubElement(sig, _KEY_INFO)
    x509_data = etree.SubElement(key_info, _X509_DATA)
    etree.SubElement(x509_data, _X509_CERTIFICATE).text = base64.b64encode(
        certificate.public_bytes(serialization.Encoding.DER)
    ).decode()
    return sig, signed_info, value


def sign_enveloped(
    doc: bytes | etree._Element,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    *,
    signature_parent: tuple[str, ...],
    digest: str = "sha256",
    max_bytes: int = _DEFAULT_SIGN_LIMIT,
) -> bytes:
    """Sign ``doc`` with an enveloped signature placed as the last child of ``signature_parent``.

    The signature follows the verifier's profile: exc-c14n CanonicalizationMethod,
    RSA-SHA256/384/512 (RSA key) or ECDSA-SHA256/384/512 with a raw r||s value (EC key;
    the hash follows ``digest``), one ``Reference URI=""`` with the transforms
    enveloped-signature + exc-c14n, and ``KeyInfo/X509Data/X509Certificate``.

    The Signature is inserted into the original bytes right before the parent's end tag,
    so every other byte of the document is preserved (an XML declaration is added if the
    input had none). Returns UTF-8 bytes.

    ``max_bytes`` bounds the document's size (64 MiB by default).

    Raises ``UnsafeXml`` for input the safe parser refuses, ``SignatureProfileViolation``
    when the document already has a ds:Signature (anywhere) or a Signature element at the
    signature place, or when the parent path does not resolve to exactly one element;
    ``ValueError`` for an unknown ``digest`` or a key that does not match ``certificate``.
    """
    if digest not in SIGNING_DIGESTS:
        raise ValueError(f"digest must be one of {sorted(SIGNING_DIGESTS)}, not {digest!r}")
    if not signature_parent:
        raise ValueError("signature_parent must name at least the document element")
    public = certificate.public_key()
    if not isinstance(public, type(key.public_key())) or public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValueError("the private key does not match the certificate")

    if isinstance(doc, bytes | bytearray | memoryview):
        data = bytes(doc)
    elif isinstance(doc, etree._Element):
        # Serialise the caller's tree instead of touching it.
        data = etree.tostring(doc.getroottree(), encoding="UTF-8", xml_declaration=True)
    else:
        raise TypeError("doc must be bytes or an lxml element")
    # huge: the caller signs its own document, whose attachments may be over 10 MB.
    tree = _parse(data, max_bytes, huge=True)
    root = tree.getroot()
    if next(root.iter(_SIGNATURE), None) is not None:
        raise SignatureProfileViolation("the document already carries a ds:Signature")
    parent = _resolve_parent(root, signature_parent)
    last = _last_element_child(parent)
    if last is not None and _local_name(last.tag) == "Signature":
        raise SignatureProfileViolation(
            "a Signature element already sits at the signature place; remove it first"
        )

    digest_uri, rsa_method, ec_method = SIGNING_DIGESTS[digest]
    hash_algorithm = _HASHES[digest]()
    # The document minus the (future) Signature is exactly the input document.
    canonical = etree.tostring(tree, method="c14n", exclusive=True, with_comments=False)
    digest_value = hashlib.new(digest, canonical).digest()

    if isinstance(key, rsa.RSAPrivateKey):
        sig, signed_info, value_el = _build_signature(
            digest_uri, rsa_method, digest_value, certificate
        )
        si_c14n = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
        value = key.sign(si_c14n, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _EC_CURVES:
            raise ValueError(f"EC curve {key.curve.name} is not supported")
        sig, signed_info, value_el = _build_signature(
            digest_uri, ec_method, digest_value, certificate
        )
        si_c14n = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
        r, s = decode_dss_signature(key.sign(si_c14n, ec.ECDSA(hash_algorithm)))
        size = (key.curve.key_size + 7) // 8
        value = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        raise TypeError("key must be an RSA or EC private key")
    value_el.text = base64.b64encode(value).decode()
    sig_bytes = etree.tostring(sig, encoding="UTF-8", xml_declaration=False)

    # An element with content is necessarily written with an end tag, which is where the
    # Signature goes. An empty one may be "<x/>", so it is re-serialised instead.
    has_content = len(parent) > 0 or bool(parent.text)
    offset = _find_end_tag_offset(data, signature_parent) if has_content else None
    if offset is None:
        # The parent is an empty-element tag: re-serialising is the only option here.
        parent.append(sig)
        return etree.tostring(tree, encoding="UTF-8", xml_declaration=True)
    out = data[:offset] + sig_bytes + data[offset:]
    body = out[3:] if out.startswith(_UTF8_BOM) else out
    if not body.startswith(b"<?xml"):
        bom = out[: len(out) - len(body)]
        out = bom + b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
    return out
