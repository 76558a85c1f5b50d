"""Algorithm and namespace URIs of the XMLDSig profile, and how each one is classified.

The classification tables are the single place that decides which algorithm is accepted,
accepted only under ``allow_legacy``, or refused. Anything not listed is unknown and
therefore refused (``signature.algorithm_forbidden``).
"""

from __future__ import annotations

from typing import Final

DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N_NS: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"

# Canonicalisation.
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS: Final = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N_10: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_10_WITH_COMMENTS: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
C14N_11: Final = "http://www.w3.org/2006/12/xml-c14n11"
C14N_11_WITH_COMMENTS: Final = "http://www.w3.org/2006/12/xml-c14n11#WithComments"

# Transforms.
ENVELOPED_SIGNATURE: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH: Final = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH_FILTER2: Final = "http://www.w3.org/2002/06/xmldsig-filter2"
XSLT: Final = "http://www.w3.org/TR/1999/REC-xslt-19991116"
BASE64_TRANSFORM: Final = "http://www.w3.org/2000/09/xmldsig#base64"

# Digests.
SHA1: Final = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA224: Final = "http://www.w3.org/2001/04/xmldsig-more#sha224"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512: Final = "http://www.w3.org/2001/04/xmlenc#sha512"

# Signature methods.
RSA_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ECDSA_SHA1: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
ECDSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ECDSA_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
ECDSA_SHA512: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
HMAC_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
DSA_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#dsa-sha1"

# Digest URI -> (hashlib name, legacy-only).
DIGEST_METHODS: Final[dict[str, tuple[str, bool]]] = {
    SHA256: ("sha256", False),
    SHA384: ("sha384", False),
    SHA512: ("sha512", False),
    SHA1: ("sha1", True),
}

# Signature URI -> (key family, hash name, legacy-only). ECDSA-SHA1 is deliberately
# absent: the legacy flag exists for old RSA partners, not to widen the attack surface.
SIGNATURE_METHODS: Final[dict[str, tuple[str, str, bool]]] = {
    RSA_SHA256: ("rsa", "sha256", False),
    RSA_SHA384: ("rsa", "sha384", False),
    RSA_SHA512: ("rsa", "sha512", False),
    ECDSA_SHA256: ("ec", "sha256", False),
    ECDSA_SHA384: ("ec", "sha384", False),
    ECDSA_SHA512: ("ec", "sha512", False),
    RSA_SHA1: ("rsa", "sha1", True),
}

# Short digest names accepted by sign_enveloped -> (digest URI, RSA method, ECDSA method).
SIGNING_DIGESTS: Final[dict[str, tuple[str, str, str]]] = {
    "sha256": (SHA256, RSA_SHA256, ECDSA_SHA256),
    "sha384": (SHA384, RSA_SHA384, ECDSA_SHA384),
    "sha512": (SHA512, RSA_SHA512, ECDSA_SHA512),
}
