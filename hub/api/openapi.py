"""The OpenAPI 3.1 document of the agency API.

Written as data beside the handlers: the API is small, its bodies are XML packages and
problem+json, and aiohttp's OpenAPI generators need a schema library the hub does not use.
A test validates this document as OpenAPI and checks that every route is described.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from hub import __version__
from hub.api.agencies import OPENAPI_PATHS as AGENCY_PATHS
from hub.api.agencies import OPENAPI_SCHEMAS as AGENCY_SCHEMAS
from hub.api.lifecycle import OPENAPI_PATHS as LIFECYCLE_PATHS
from hub.api.packages import (
    BATCH_MAX_ACKS,
    BATCH_MAX_BYTES,
    BATCH_MAX_ID_CHARS,
    BATCH_MAX_PACKAGES,
)
from hub.api.problems import PROBLEM_JSON, XML_MEDIA_TYPES, catalogue, codes_of
from hub.audit.acks import AckInvalid
from hub.errors import (
    PROBLEMS_PAGE,
    AgencyNotFound,
    AttachmentError,
    AuthForbidden,
    AuthRequired,
    BadBody,
    BadCursor,
    BadLimit,
    BadParameter,
    BadQuery,
    BodyTimeout,
    HubError,
    LifecycleError,
    MethodNotAllowed,
    NotFound,
    PackageConflict,
    PackageTooLarge,
    RequestError,
    RouteForbidden,
    RouteNotFound,
    SchemaInvalid,
    SignatureError,
    Unavailable,
    UnknownRecipient,
    UnsupportedMediaType,
    XmlError,
)
from hub.storage_crypto import StorageKeyError

_PROBLEM = {"$ref": "#/components/responses/Problem"}

# -- the codes each operation can answer with, from the error tree ------------------------------

#: any authenticated call; ``hub.error`` is the internal error (a bug, answered as a problem)
_AUTHENTICATED: tuple[type[HubError], ...] = (AuthRequired, AuthForbidden, Unavailable)
#: a request body is read (``/v1/packages``, ``/v1/validate``, an ack)
_BODY: tuple[type[HubError], ...] = (UnsupportedMediaType, BodyTimeout, PackageTooLarge)
#: every check of a submitted package (the pipeline, hub/pipeline)
_CHECKS: tuple[type[HubError], ...] = (
    XmlError,
    SchemaInvalid,
    SignatureError,
    AttachmentError,
    UnknownRecipient,
    RouteForbidden,
    LifecycleError,
)
_PAGING_ERRORS: tuple[type[HubError], ...] = (BadCursor, BadLimit)
_PACKAGE: tuple[type[HubError], ...] = (NotFound, StorageKeyError)

OPERATION_ERRORS: dict[str, tuple[type[HubError], ...]] = {
    "submitPackage": (*_AUTHENTICATED, *_BODY, *_CHECKS, PackageConflict),
    "validatePackage": (*_AUTHENTICATED, *_BODY, *_CHECKS, PackageConflict),
    "inbox": (*_AUTHENTICATED, *_PAGING_ERRORS, BadParameter),
    "outbox": (*_AUTHENTICATED, *_PAGING_ERRORS, BadParameter),
    "fetchPackage": (*_AUTHENTICATED, *_PACKAGE),
    "fetchInboxPackages": (*_AUTHENTICATED, BadLimit, StorageKeyError),
    "ackPackages": (*_AUTHENTICATED, *_BODY, BadBody),
    "packageReceipt": (*_AUTHENTICATED, *_PACKAGE),
    "ackPackage": (*_AUTHENTICATED, *_BODY, *_PACKAGE, SignatureError, AckInvalid),
    "tracePackage": (*_AUTHENTICATED, *_PACKAGE),
    "report": (*_AUTHENTICATED, BadQuery),
    "alarms": _AUTHENTICATED,
    "dossier": (*_AUTHENTICATED, NotFound),
    "listAgencies": (*_AUTHENTICATED, *_PAGING_ERRORS, BadParameter),
    "getAgency": (*_AUTHENTICATED, AgencyNotFound),
    "metrics": (AuthRequired, AuthForbidden),
}
"""Error classes per operationId; each class stands for its subtree and variants."""


def problem_responses(operation_id: str) -> dict[str, Any]:
    """The problem responses of an operation: one per status, naming its codes
    (``x-problem-codes``), plus ``500 hub.error`` (every operation)."""
    status_of = {p.code: p.status for p in catalogue()}
    by_status: dict[int, list[str]] = {}
    for code in [*codes_of(*OPERATION_ERRORS.get(operation_id, ())), HubError.code]:
        by_status.setdefault(status_of[code], []).append(code)
    responses: dict[str, Any] = {}
    for status in sorted(by_status):
        codes = sorted(set(by_status[status]))
        responses[str(status)] = {
            "description": "Problem: " + ", ".join(codes) + f" (see {PROBLEMS_PAGE})",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            "x-problem-codes": codes,
        }
    return responses


def _with_problems(paths: dict[str, Any]) -> dict[str, Any]:
    for operations in paths.values():
        for operation in operations.values():
            op_id = operation["operationId"]
            if op_id in OPERATION_ERRORS:
                kept = {k: v for k, v in operation["responses"].items() if v is not _PROBLEM}
                kept = {k: v for k, v in kept.items() if not str(k).startswith(("4", "5"))}
                operation["responses"] = {**kept, **problem_responses(op_id)}
    return paths


def _xml_body(description: str, *, required: bool = True) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "required": required,
        "description": description + " (Content-Type application/xml or text/xml)",
        "content": {t: binary for t in sorted(XML_MEDIA_TYPES)},
    }


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _receipt(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "Location": {"schema": {"type": "string"}, "description": "/v1/packages/{id}"},
            "Hub-Package-Id": {"schema": {"type": "string"}},
        },
        "content": {
            "application/xml": {
                "schema": {
                    "type": "string",
                    "description": _RECEIPT_DOC,
                }
            }
        },
    }


_WARNINGS = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Warnings the hub noted on the package, each '<code>' or "
    "'<code>:<path>[:<detail>]'; codes are listed in docs/warnings.md (the same list as "
    "the receipt's Warnings)",
}
_RECEIPT_DOC = (
    "The hub's receipt (schemas/receipt/v1/receipt.xsd, namespace urn:vnhub:receipt:1), "
    "signed with XMLDSig (enveloped, exc-c14n, ECDSA P-256 or RSA): PackageId, Hub, From, "
    "Recipients, Kind, DocumentId, AcceptedAt, Sha256, Size and, when the hub noted any, "
    'Warnings (one <Warning code="...">full warning</Warning> each; absent otherwise, '
    "as in receipts issued before warnings were stated)."
)

_ID_PARAM = {
    "name": "package_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_PAGING = [
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
]

_SUBJECT_QUERY = {
    "name": "q",
    "in": "query",
    "description": (
        "Subject search within the caller's own packages: every word of q must occur as a "
        "whole word of the Subject, compared without diacritics or case (NFD, combining marks "
        "dropped, đ→d, casefolded), so 'quyet dinh' and 'Quyết định' find the same packages. "
        "At most 16 words; a q without letters or digits does not filter. Packages accepted "
        "before the hub kept Subjects (schema 0006) are not found. Paging with cursor works "
        "as without q."
    ),
    "schema": {"type": "string"},
}


@cache
def openapi_document() -> dict[str, Any]:
    """The document served at ``/v1/openapi.json``."""
    errors: dict[str, Any] = {}  # the problem responses: per operation, by _with_problems
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Vietnamese e-government exchange hub — agency API",
            "version": __version__,
            "description": (
                "Agencies submit signed edXML packages (QCVN 102:2016), pull or are pushed "
                "their packages, acknowledge them, and follow their trace. Every refusal is "
                "RFC 9457 problem+json with a stable `code`."
            ),
        },
        "servers": [{"url": "/"}],
        # Codes not tied to an operation: a path or method the API does not have, or a
        # request aiohttp itself refuses (a malformed one).
        "x-problem-codes": sorted({RouteNotFound.code, MethodNotAllowed.code, RequestError.code}),
        "security": [{"bearer": []}],
        "paths": {
            **copy.deepcopy(LIFECYCLE_PATHS),  # issue 5: reports, alarms, dossiers
            **copy.deepcopy(AGENCY_PATHS),  # issue 11: the agency directory
            "/v1/packages": {
                "post": {
                    "summary": "Submit a signed package",
                    "operationId": "submitPackage",
                    "requestBody": _xml_body("The edXML package bytes, signed by the sender"),
                    "responses": {
                        "202": _receipt("Accepted; the body is the hub's signed receipt"),
                        "200": _receipt("Identical bytes accepted before: the same receipt"),
                        **errors,
                    },
                }
            },
            "/v1/validate": {
                "post": {
                    "summary": "Run every submission check without storing anything",
                    "operationId": "validatePackage",
                    "requestBody": _xml_body("The edXML package bytes"),
                    "responses": {
                        "200": _json("Validation", "The package would be accepted"),
                        **errors,
                    },
                }
            },
            "/v1/inbox": {
                "get": {
                    "summary": "Packages waiting for the caller",
                    "operationId": "inbox",
                    "parameters": [
                        *_PAGING,
                        {"name": "include_acked", "in": "query", "schema": {"type": "boolean"}},
                        _SUBJECT_QUERY,
                    ],
                    "responses": {"200": _json("InboxPage", "A page of the inbox"), **errors},
                }
            },
            "/v1/inbox/packages": {
                "get": {
                    "summary": "The caller's oldest waiting packages with their bytes, at once",
                    "operationId": "fetchInboxPackages",
                    "description": (
                        "A batch of GET /v1/packages/{id}: the caller's packages waiting to be "
                        "acknowledged (available or delivered, oldest first, in the inbox's "
                        "order), after the position cursor when given, each in one part of a "
                        "multipart/mixed "
                        "body (RFC 2046) with the exact bytes the sender signed and the "
                        "headers a single fetch answers with (Hub-Package-Id, Hub-Sender, "
                        "Hub-Kind, ETag = the SHA-256, Content-Type application/xml; "
                        "charset=utf-8) plus Content-Length and, when the caller receives the "
                        "package for sub-units, Hub-Stands-For (their codes, comma-separated). "
                        f"At most {BATCH_MAX_PACKAGES} packages whatever limit asks, and no "
                        f"more than {BATCH_MAX_BYTES // (1024 * 1024)} MiB of "
                        "packages (the first always comes, however large). Every available "
                        "one is marked delivered; the packages come again until acknowledged "
                        "(POST /v1/inbox/acks). The Hub-Next-Cursor header carries the "
                        "position of the last package: passed back as cursor, the next batch "
                        "starts strictly after it, so packages left unacknowledged (set aside) "
                        "are walked past, not sent again. Without a cursor the batch starts "
                        "at the oldest waiting package. 204 when nothing waits (after the "
                        "cursor): the walk is over."
                    ),
                    "parameters": [
                        {
                            "name": "cursor",
                            "in": "query",
                            "description": (
                                "the Hub-Next-Cursor of the previous batch (or the next of an "
                                "inbox page): only packages after that position"
                            ),
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "description": "at most this many packages (100 at most are sent)",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "One part per package, oldest first",
                            "headers": {
                                "Hub-Next-Cursor": {
                                    "schema": {"type": "string"},
                                    "description": (
                                        "the position of the last package: the cursor of the "
                                        "next batch"
                                    ),
                                }
                            },
                            "content": {
                                "multipart/mixed": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        "204": {"description": "Nothing waits for the caller"},
                        **errors,
                    },
                }
            },
            "/v1/inbox/acks": {
                "post": {
                    "summary": "Acknowledge several packages at once (recipients; idempotent)",
                    "operationId": "ackPackages",
                    "description": (
                        "Each id as POST /v1/packages/{id}/ack without a body would answer "
                        "(acked_at, already_acked), all in one write. An id the caller is not "
                        "a recipient of, or that does not exist, does not fail the others: "
                        "its item carries code package.not_found. A repeated id is answered "
                        "once. Signed acknowledgements go one by one to "
                        "POST /v1/packages/{id}/ack."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/AckBatchRequest"}
                            }
                        },
                    },
                    "responses": {"200": _json("AckBatch", "Acknowledged"), **errors},
                }
            },
            "/v1/outbox": {
                "get": {
                    "summary": "The caller's sent packages with per-recipient state",
                    "operationId": "outbox",
                    "parameters": [*_PAGING, _SUBJECT_QUERY],
                    "responses": {"200": _json("OutboxPage", "A page of the outbox"), **errors},
                }
            },
            "/v1/packages/{package_id}": {
                "get": {
                    "summary": "The exact bytes of a package (sender and recipients only)",
                    "operationId": "fetchPackage",
                    "parameters": [_ID_PARAM],
                    "responses": {
                        "200": {
                            "description": "The package as the sender signed it",
                            "content": {"application/xml": {"schema": {"type": "string"}}},
                        },
                        **errors,
                    },
                }
            },
            "/v1/packages/{package_id}/receipt": {
                "get": {
                    "summary": "The hub's signed receipt for a package",
                    "operationId": "packageReceipt",
                    "parameters": [_ID_PARAM],
                    "responses": {"200": _receipt("The signed receipt"), **errors},
                }
            },
            "/v1/packages/{package_id}/ack": {
                "post": {
                    "summary": "Acknowledge a package (recipients; idempotent)",
                    "operationId": "ackPackage",
                    "description": (
                        "An empty body acknowledges without a signature. For non-repudiation "
                        "of receipt the body is an acknowledgement signed by the recipient "
                        "(schemas/ack/v1/ack.xsd, namespace urn:vnhub:ack:1): it names the "
                        "package id and the SHA-256 of the exact bytes, carries one enveloped "
                        "XMLDSig (the packages' profile) by a certificate registered for the "
                        "recipient, and is kept in the package's evidence archive. A refused "
                        "signed acknowledgement acknowledges nothing (403 signature.*, "
                        "422 ack.invalid)."
                    ),
                    "parameters": [_ID_PARAM],
                    "requestBody": {
                        "required": False,
                        "description": "Optional signed acknowledgement (urn:vnhub:ack:1)",
                        "content": {
                            "application/xml": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "responses": {"200": _json("Ack", "Acknowledged"), **errors},
                }
            },
            "/v1/packages/{package_id}/trace": {
                "get": {
                    "summary": "The package's timeline",
                    "operationId": "tracePackage",
                    "parameters": [_ID_PARAM],
                    "responses": {"200": _json("Trace", "The trace"), **errors},
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "operationId": "healthz",
                    "security": [],
                    "responses": {"200": {"description": "Alive"}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: store, broker, receipt certificate",
                    "operationId": "readyz",
                    "security": [],
                    "description": "Open to all: one status per check ('ok', or 'failed: "
                    "<code>' with a stable code such as hub.unavailable or timeout). The "
                    "failures in words ('detail') only to the callers /metrics lets in "
                    "([metrics] allow networks or its bearer token); otherwise they are "
                    "logged only",
                    "responses": {
                        "200": _json("Readiness", "Ready"),
                        "503": _json("Readiness", "Not ready"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "security": [],
                    "description": "Readable from [metrics] allow networks (loopback by "
                    "default) or with the bearer token of [metrics] token_file",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            PROBLEMS_PAGE: {
                "get": {
                    "summary": "Every problem code: status, title, meaning (the type URIs)",
                    "operationId": "problems",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "HTML, one anchor per code",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Per-agency random 256-bit token",
                }
            },
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
            "schemas": {
                **AGENCY_SCHEMAS,  # issue 11
                "Readiness": {
                    "type": "object",
                    "required": ["status", "checks"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ready", "not ready"]},
                        "checks": {
                            "type": "object",
                            "description": "Per check (store, broker, receipt_certificate, "
                            "certificates_expiring): 'ok', 'ok, expires in N days', "
                            "'warning: N expiring' or 'failed: <code>'",
                            "additionalProperties": {"type": "string"},
                        },
                        "detail": {
                            "type": "object",
                            "description": "What failed or expires, in words, per check; "
                            "only for the callers /metrics lets in",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "code"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "code": {
                            "type": "string",
                            "enum": [p.code for p in catalogue()],
                            "description": f"Stable code, explained at {PROBLEMS_PAGE}#<code>",
                        },
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                        "line": {"type": ["integer", "null"]},
                        "column": {"type": ["integer", "null"]},
                        "path": {"type": ["string", "null"]},
                    },
                },
                "PackageSummary": {
                    "type": "object",
                    "required": ["id", "from", "kind", "sha256", "size", "accepted_at"],
                    "properties": {
                        "id": {"type": "string"},
                        "from": {"type": "string"},
                        "kind": {"type": "string", "enum": ["document", "status"]},
                        "document_id": {
                            "type": ["string", "null"],
                            "description": "DocumentId (ResponseFor/DocumentId of a status) "
                            "in NFC, the form the hub compares by; the bytes keep the sender's",
                        },
                        "subject": {
                            "type": ["string", "null"],
                            "description": "Subject as sent; null when absent, for packages "
                            "accepted before schema 0006, or with encryption at rest on",
                        },
                        "sha256": {"type": "string"},
                        "size": {"type": "integer"},
                        "accepted_at": {"type": "string", "format": "date-time"},
                        "warnings": _WARNINGS,
                        "state": {"type": "string"},
                        "stands_for": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Inbox only: the sub-unit codes the caller receives "
                            "this package for (it represents them); empty when addressed in "
                            "its own name only.",
                        },
                    },
                },
                "Delivery": {
                    "type": "object",
                    "properties": {
                        "organ_id": {"type": "string"},
                        "state": {
                            "type": "string",
                            "enum": [
                                "pending",
                                "queued",
                                "available",
                                "delivered",
                                "acked",
                                "failed",
                                "dead",
                            ],
                        },
                        "attempts": {"type": "integer"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "acked_at": {"type": ["string", "null"], "format": "date-time"},
                        "last_error": {"type": ["string", "null"]},
                        "stands_for": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "The sub-unit codes this recipient receives the "
                            "package for (it represents them); empty: its own name only.",
                        },
                    },
                },
                "InboxPage": {
                    "type": "object",
                    "required": ["items", "next"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/PackageSummary"},
                        },
                        "next": {"type": ["string", "null"]},
                    },
                },
                "OutboxPage": {
                    "type": "object",
                    "required": ["items", "next"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {
                                "allOf": [
                                    {"$ref": "#/components/schemas/PackageSummary"},
                                    {
                                        "type": "object",
                                        "properties": {
                                            "recipients": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Delivery"},
                                            }
                                        },
                                    },
                                ]
                            },
                        },
                        "next": {"type": ["string", "null"]},
                    },
                },
                "Ack": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "organ_id": {"type": "string"},
                        "acked_at": {"type": ["string", "null"], "format": "date-time"},
                        "already_acked": {"type": "boolean"},
                        "signed": {
                            "type": "boolean",
                            "description": "a signed acknowledgement was verified and kept",
                        },
                    },
                },
                "AckBatchRequest": {
                    "type": "object",
                    "required": ["ids"],
                    "properties": {
                        "ids": {
                            "type": "array",
                            "maxItems": BATCH_MAX_ACKS,
                            "items": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": BATCH_MAX_ID_CHARS,
                            },
                        }
                    },
                },
                "AckBatch": {
                    "type": "object",
                    "required": ["organ_id", "items", "acked", "already_acked", "not_found"],
                    "properties": {
                        "organ_id": {"type": "string"},
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "acked_at", "already_acked"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "acked_at": {"type": ["string", "null"], "format": "date-time"},
                                    "already_acked": {"type": "boolean"},
                                    "code": {
                                        "type": "string",
                                        "enum": ["package.not_found"],
                                        "description": "only when the caller has no such "
                                        "package to acknowledge",
                                    },
                                },
                            },
                        },
                        "acked": {"type": "integer", "description": "first acknowledgements"},
                        "already_acked": {"type": "integer"},
                        "not_found": {"type": "integer"},
                    },
                },
                "Validation": {
                    "type": "object",
                    "properties": {
                        "valid": {"type": "boolean"},
                        "kind": {"type": "string"},
                        "from": {"type": "string"},
                        "recipients": {"type": "array", "items": {"type": "string"}},
                        "document_id": {"type": ["string", "null"]},
                        "sha256": {"type": "string"},
                        "size": {"type": "integer"},
                        "signer": {"type": "object"},
                        "warnings": _WARNINGS,
                    },
                },
                "Trace": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "recipients": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Delivery"},
                        },
                        "events": {"type": "array", "items": {"type": "object"}},
                        "statuses": {"type": "array", "items": {"type": "object"}},
                        "signer": {"type": "object"},
                        "warnings": _WARNINGS,
                    },
                },
            },
        },
    }
    _with_problems(document["paths"])
    return document
