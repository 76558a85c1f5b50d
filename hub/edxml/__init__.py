"""edXML (QCVN 102:2016/BTTTT): models, schema validation, parsing and building of packages.

Typical ingest::

    root = hub.xmlsafe.parse_xml(data)      # size, DTD, encoding, well-formedness
    hub.edxml.validate(root)                # XSD (schemas/edxml/v1)
    package = hub.edxml.parse_package(root) # models + warnings
"""

from hub.edxml.build import (
    build_document,
    build_status,
    format_date,
    format_timestamp,
    make_document_id,
)
from hub.edxml.models import (
    VN_TZ,
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentIdParts,
    DocumentType,
    EdxmlPackage,
    InvalidDocumentId,
    ManifestReference,
    MessageHeader,
    Organ,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    TraceHeader,
    nfc,
    parse_date,
    parse_timestamp,
)
from hub.edxml.organ_id import InvalidOrganId, OrganId, is_valid_organ_id
from hub.edxml.parse import parse_package
from hub.edxml.schema import (
    EDXML_NS,
    SCHEMA_VERSION,
    SIGNATURE_PARENT,
    element_path,
    explain,
    schema_path,
    validate,
)

__all__ = [
    "EDXML_NS",
    "SCHEMA_VERSION",
    "SIGNATURE_PARENT",
    "VN_TZ",
    "Attachment",
    "Business",
    "BusinessDocumentInfo",
    "Code",
    "DocumentIdParts",
    "DocumentType",
    "EdxmlPackage",
    "InvalidDocumentId",
    "InvalidOrganId",
    "ManifestReference",
    "MessageHeader",
    "Organ",
    "OrganId",
    "OtherInfo",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "TraceHeader",
    "build_document",
    "build_status",
    "element_path",
    "explain",
    "format_date",
    "format_timestamp",
    "is_valid_organ_id",
    "make_document_id",
    "nfc",
    "parse_date",
    "parse_package",
    "parse_timestamp",
    "schema_path",
    "validate",
]
