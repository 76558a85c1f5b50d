"""The package formats a connector handles: edXML and dossier packages, told apart by the
document element. Signing and model-building per format, for the edge (not the hub's hot path).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from lxml import etree

from hub.adapter.contract import NativeInvalid, PackageKindName, PackageModel
from hub.dossier import parse_dossier
from hub.dossier import validate as validate_dossier
from hub.dossier.schema import ROOT_TAG as DOSSIER_ROOT
from hub.dossier.schema import SIGNATURE_PARENT as DOSSIER_SIGNATURE_PARENT
from hub.edxml import parse_package
from hub.edxml import validate as validate_edxml
from hub.edxml.schema import SIGNATURE_PARENT as EDXML_SIGNATURE_PARENT
from hub.edxml.schema import element_path
from hub.errors import HubError, SchemaInvalid
from hub.xmlsafe import parse_xml
from signing import SignaturePolicy, sign_enveloped
from signing.pki import PrivateKey

__all__ = [
    "PACKAGE_ID_NAMESPACE",
    "ParsedPackage",
    "check_unsigned",
    "model_from_verified",
    "sign_outgoing",
    "signature_parent_of",
    "stable_package_id",
]

PACKAGE_ID_NAMESPACE = uuid.UUID("6f1c5a8e-3b0e-5d2f-9a57-2f4b1d0c7e31")
"""UUIDv5 namespace of package ids derived from (sender, record key, record version)."""

_DSIG = "{http://www.w3.org/2000/09/xmldsig#}Signature"

_PARENTS: dict[str, tuple[str, ...]] = {
    EDXML_SIGNATURE_PARENT[0]: EDXML_SIGNATURE_PARENT,
    DOSSIER_ROOT: DOSSIER_SIGNATURE_PARENT,
}


def stable_package_id(sender: str, key: str, version: str) -> str:
    """The sender's package id of one version of one record: the same on every retry."""
    return uuid.uuid5(PACKAGE_ID_NAMESPACE, f"{sender}\x1f{key}\x1f{version}").hex


def signature_parent_of(root_tag: str) -> tuple[str, ...]:
    """Where the signature goes for a document element; ``ValueError`` for other formats."""
    try:
        return _PARENTS[root_tag]
    except KeyError:
        raise ValueError(f"not a package format the hub knows: {root_tag}") from None


def signature_policy(root_tag: str, *, allow_legacy: bool = False) -> SignaturePolicy:
    """The strict verification profile for a document element."""
    return SignaturePolicy(
        signature_parent=signature_parent_of(root_tag), allow_legacy=allow_legacy
    )


def sign_outgoing(data: bytes, key: PrivateKey, certificate: x509.Certificate) -> bytes:
    """Sign an edXML or dossier package with the agency's key, wherever its format wants."""
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
        raise ValueError("agency keys are RSA or EC")
    root = parse_xml(data)
    return sign_enveloped(data, key, certificate, signature_parent=signature_parent_of(root.tag))


@dataclass(frozen=True, slots=True)
class ParsedPackage:
    """A verified package's model, kind, sender and recipients."""

    model: PackageModel
    kind: PackageKindName
    sender: str
    recipients: tuple[str, ...]


def check_unsigned(data: object, *, key: str | None = None, dossiers: bool = True) -> ParsedPackage:
    """An unsigned package a system hands its connector to sign and send: parsed safely
    (no DTD, no entities), schema-validated, its model built; else :class:`NativeInvalid`
    naming the field. ``dossiers=False``: edXML only (a document system's connector).

    Already signed packages are refused: the connector signs with the agency's key, and a
    second signature beside the first would make the package ambiguous."""
    field = "package" if dossiers else "edxml"
    if not isinstance(data, bytes):
        raise NativeInvalid(field, "must be the package bytes", key=key)
    try:
        root = parse_xml(data)
    except HubError as exc:
        raise NativeInvalid(field, f"{exc.code}: {exc}", key=key) from exc
    if next(root.iter(_DSIG), None) is not None:
        raise NativeInvalid("Signature", "already signed: the connector signs", key=key)
    try:
        if dossiers and root.tag == DOSSIER_ROOT:
            validate_dossier(root)
        else:
            validate_edxml(root)
        return model_from_verified(root)
    except SchemaInvalid as exc:
        raise NativeInvalid(
            exc.path or ("package" if dossiers else "edXML"), str(exc), key=key
        ) from exc


def model_from_verified(signed_root: etree._Element) -> ParsedPackage:
    """Models from the tree signature verification returned (never from the received one).

    :raises SchemaInvalid: the tree is not a package the models can be built from (the
        signature does not make it schema-valid)."""
    if signed_root.tag == DOSSIER_ROOT:
        dossier = parse_dossier(signed_root)
        return ParsedPackage(dossier, dossier.kind, dossier.sender, dossier.recipients)
    try:
        edxml = parse_package(signed_root)
    except ValueError as exc:
        # parse_package's documented refusal of a tree the schema would refuse, coded as
        # parse_dossier's is: the connector quarantines it, where a bare ValueError would be
        # taken for a bug
        raise SchemaInvalid(str(exc), path=element_path(signed_root)) from exc
    return ParsedPackage(edxml, edxml.kind, edxml.sender, edxml.recipients)
