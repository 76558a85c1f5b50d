"""The hub's error tree.

Every refusal the hub makes is a :class:`HubError` with a stable machine-readable ``code``
(``xml.not_well_formed``, ``signature.invalid``, …) and the HTTP status the API answers with.
The codes are part of the public contract: integrators match on them, so never rename one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

#: where every code is explained: the hub serves this page (``/docs/problems``), one anchor
#: per code, generated from this tree; problem ``type`` URIs are relative references to it
PROBLEMS_PAGE = "/docs/problems"


def problem_type(code: str) -> str:
    """The problem ``type`` URI of ``code``: its anchor on the hub's own problems page."""
    return f"{PROBLEMS_PAGE}#{code}"


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    code: ClassVar[str] = "hub.error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal hub error"
    #: other codes an instance may carry (set per instance from a lower layer's code, e.g. the
    #: ``signature.*`` codes of the signing package), each with its own title; listed here so
    #: the problems page and the OpenAPI document name them
    variants: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def codes(cls) -> Iterator[tuple[str, int, str]]:
        """``(code, status, title)`` of this class and its variants."""
        yield cls.code, cls.status, cls.variants.get(cls.code, cls.title)
        for code, title in cls.variants.items():
            if code != cls.code:
                yield code, cls.status, title

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: Mapping[str, Any] = extra

    def __reduce__(self) -> tuple[Any, ...]:
        # Refusals cross process boundaries (verification runs in a process pool); subclasses
        # take keyword-only arguments, so rebuild from the stored fields, not from ``args``.
        return (_rebuild_error, (type(self), self.detail, dict(self.extra), self.code))

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem+json body for this error."""
        body: dict[str, Any] = {
            "type": problem_type(self.code),
            "title": self.variants.get(self.code, self.title),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


# -- XML well-formedness and safety (400) ---------------------------------------------------


class XmlError(HubError):
    code = "xml.error"
    status = 400
    title = "The package is not acceptable XML"


class XmlNotWellFormed(XmlError):
    code = "xml.not_well_formed"
    title = "The package is not well-formed XML"

    def __init__(self, detail: str, *, line: int | None, column: int | None) -> None:
        super().__init__(detail, line=line, column=column)
        self.line = line
        self.column = column


class XmlDtdForbidden(XmlError):
    code = "xml.dtd_forbidden"
    title = "DTDs, entities and processing instructions are forbidden"


class XmlEncodingForbidden(XmlError):
    code = "xml.encoding_forbidden"
    title = "Only UTF-8 is accepted"


class XmlTooDeep(XmlError):
    """Elements nested deeper than the hub's limit (``[limits] max_xml_depth``), refused
    while parsing: libxml2's own nesting limit is lifted with ``huge_tree``."""

    code = "xml.too_deep"
    title = "The package's elements are nested too deeply"


# -- Size (413) -------------------------------------------------------------------------------


class PackageTooLarge(HubError):
    code = "package.too_large"
    status = 413
    title = "The package exceeds the size limit"


# -- Schema (422) -----------------------------------------------------------------------------


class SchemaInvalid(HubError):
    code = "schema.invalid"
    status = 422
    title = "The package does not conform to the schema"

    def __init__(self, detail: str, *, path: str | None, line: int | None = None) -> None:
        super().__init__(detail, path=path, line=line)
        self.path = path
        self.line = line


# -- Signature and signer binding (403) ---------------------------------------------------------


class SignatureError(HubError):
    """A signature refusal. ``code`` is taken from the standalone ``signing`` package's error."""

    code = "signature.invalid"
    status = 403
    title = "The package signature is not acceptable"
    variants: ClassVar[Mapping[str, str]] = {
        "signature.error": "The signature cannot be verified",
        "signature.missing": "The document carries no XML signature",
        "signature.profile": "The signature is outside the accepted signing profile",
        "signature.algorithm_forbidden": "A signature algorithm is forbidden",
        "signature.invalid": "The signature does not verify",
        "signature.untrusted": "The signing certificate is not trusted",
        "signature.unsafe_xml": "The signed XML is refused by the safe parser",
        "signature.revoked": "A certificate of the signing chain is revoked",
        "signature.revocation_unknown": "The revocation status of the signing chain is unknown",
    }

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance-level specific signature.* code


class SignerMismatch(SignatureError):
    code = "signature.signer_mismatch"
    title = "The signing certificate is not registered for the From agency"


class AttachmentError(HubError):
    """An attachment refused by the PDF policy (``pdf.required``, ``pdf.invalid``,
    ``pdf.indeterminate``) or an unsafe archive (``attachment.unsafe_archive``)."""

    code = "pdf.invalid"
    status = 422
    title = "An attachment is not acceptable"
    variants: ClassVar[Mapping[str, str]] = {
        "pdf.required": "No attachment holds a signed PDF",
        "pdf.invalid": "A PDF signature is invalid",
        "pdf.indeterminate": "A PDF signature cannot be validated",
        "attachment.unsafe_archive": "An attachment archive is unsafe",
    }

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance-level specific code


# -- Authentication and authorisation ----------------------------------------------------------


class AuthRequired(HubError):
    code = "auth.required"
    status = 401
    title = "Authentication required"


class AuthForbidden(HubError):
    code = "auth.forbidden"
    status = 403
    title = "The caller may not do this"


class NotFound(HubError):
    code = "package.not_found"
    status = 404
    title = "No such package"


# -- Requests (the HTTP layer, before any package check) --------------------------------------


class RequestError(HubError):
    """A request the API cannot take as sent: a bad parameter, media type or method."""

    code = "request.invalid"
    status = 400
    title = "The request is not valid"


class BadParameter(RequestError):
    """A query parameter with a value outside its documented type or range."""

    code = "request.bad_parameter"
    title = "A query parameter is invalid"


class BadCursor(BadParameter):
    """``cursor`` is not a value the hub handed out (a page's ``next``, a batch's
    ``Hub-Next-Cursor``)."""

    code = "request.bad_cursor"
    title = "The paging cursor is not valid"


class BadLimit(BadParameter):
    """``limit`` is not an integer from 1 to 1000."""

    code = "request.bad_limit"
    title = "The page limit must be an integer from 1 to 1000"


class BadQuery(RequestError):
    """A date range (``from``/``to``) that cannot be read. The code predates the
    ``request.*`` family and is kept: integrators match on it."""

    code = "http.bad_query"
    title = "A query parameter is invalid"


class BadBody(RequestError):
    """A body that is not what the call takes (a batch ack that is not ``{"ids": [...]}``)."""

    code = "request.bad_body"
    title = "The request body is not valid"


class UnsupportedMediaType(RequestError):
    """A non-empty body of another media type than the call takes: XML (``application/xml``
    or ``text/xml``) everywhere but the batch ack, which takes ``application/json``."""

    code = "request.unsupported_media_type"
    status = 415
    title = "The body's media type is not the one this call takes"


class BodyTimeout(RequestError):
    """The body did not arrive within ``[http] body_timeout`` seconds."""

    code = "request.body_timeout"
    status = 408
    title = "The request body was not received in time"


class RouteNotFound(RequestError):
    """No such path in the API."""

    code = "http.not_found"
    status = 404
    title = "No such resource"


class MethodNotAllowed(RequestError):
    """The path exists but not with this method; ``Allow`` names the methods it takes."""

    code = "http.method_not_allowed"
    status = 405
    title = "Method not allowed"


# -- Routing and conflicts ----------------------------------------------------------------------


class UnknownRecipient(HubError):
    code = "route.unknown_recipient"
    status = 422
    title = "A recipient is unknown or disabled"


class RouteForbidden(HubError):
    code = "route.forbidden"
    status = 422
    title = "A routing rule forbids this route"


class PackageConflict(HubError):
    code = "package.conflict"
    status = 409
    title = "This DocumentId was already sent with other content"


# -- Infrastructure (503) -------------------------------------------------------------------------


class Unavailable(HubError):
    code = "hub.unavailable"
    status = 503
    title = "The hub cannot accept packages right now"


class ConfigError(HubError):
    code = "config.invalid"
    status = 500
    title = "Invalid configuration"


class AgencyNotFound(HubError):
    """``GET /v1/agencies/{code}`` for a code neither registered nor in the directory."""

    code = "agency.not_found"
    status = 404
    title = "No such agency"


class DirectoryInvalid(HubError):
    """``hub agency import``: the file cannot be imported (format, codes, parents, names);
    the detail lists every problem found, by line or item. Nothing is written."""

    code = "directory.invalid"
    status = 400
    title = "The directory file cannot be imported"


class KeyOperationRefused(HubError):
    """``hub keys`` / ``hub storage rekey`` cannot do what was asked: a file that
    would be overwritten, a certificate that does not match its key, no CA to issue with."""

    code = "keys.refused"
    status = 400
    title = "Key operation refused"


# -- Lifecycles (issue 5): documents per recipient, dossiers per MaHoSo ---------------------------


class LifecycleError(HubError):
    """A package that the document or dossier lifecycle refuses (see docs/lifecycle.md)."""

    code = "lifecycle.error"
    status = 422
    title = "The package does not fit the lifecycle"


class IllegalTransition(LifecycleError):
    """The status or TrangThaiHoSo is not allowed from the current state (or another package
    moved the state first). 409: the request conflicts with the state of the resource."""

    code = "lifecycle.illegal_transition"
    status = 409
    title = "This state change is not allowed from the current state"


class OriginalUnknown(LifecycleError):
    """A revocation/update/replacement, status or progress refers to nothing the hub knows."""

    code = "lifecycle.original_unknown"
    title = "The referenced document or dossier is unknown to the hub"


class NotAuthor(LifecycleError):
    """Only a document's author may revoke, update, replace or ask it back (13)."""

    code = "lifecycle.not_author"
    status = 403
    title = "The sender is not the author of the referenced document"


class NotParty(LifecycleError):
    """A status from an agency that did not receive the document, or dossier progress from an
    agency that is neither the dossier's submitter nor its handling agency."""

    code = "lifecycle.not_party"
    status = 403
    title = "The sender is not a party to the referenced document or dossier"


class ProcedureUnknown(LifecycleError):
    """A dossier without ``To`` whose MaTTHC is not in the procedure catalogue."""

    code = "lifecycle.procedure_unknown"
    title = "The procedure (MaTTHC) is not in the catalogue"


def _rebuild_error(cls: type[HubError], detail: str, extra: dict[str, Any], code: str) -> HubError:
    err = cls.__new__(cls)
    Exception.__init__(err, detail)
    err.detail = detail
    err.extra = extra
    for key, value in extra.items():
        setattr(err, key, value)
    if code != cls.code:
        err.code = code  # type: ignore[misc]  # instance-level specific code (signature.*)
    return err
