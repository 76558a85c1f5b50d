"""TLS for the agency API, with optional client certificates (mTLS)."""

from __future__ import annotations

import ssl

from hub.config import HttpSettings


def server_ssl_context(http: HttpSettings) -> ssl.SSLContext | None:
    """The server's TLS context, or ``None`` when ``[http] tls_cert`` is not configured.

    With ``client_ca`` set, clients are asked for a certificate and it must chain to that CA;
    the certificate's SHA-256 must then be registered for an agency (``cert_sha256``). It is
    optional at the TLS layer because bearer tokens remain an alternative.
    """
    if http.tls_cert is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(http.tls_cert, http.tls_key)
    if http.client_ca is not None:
        ctx.load_verify_locations(http.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
