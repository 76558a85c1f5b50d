"""The VXP facade (issue 11): the national document axis's protocol, as VNPT's Java SDK
(``SDKVXP``) speaks it, over the hub's own pipeline, store and registry.

Systems that talk to the axis through the SDK connect to the hub by changing only their
endpoint and credentials. :mod:`hub.vxp.protocol` holds the wire rules (the ``XroadVnpt-*``
HMAC, the unpadded ``hash-file``, the JSON answers), :mod:`hub.vxp.systems` the connected
systems' credentials, :mod:`hub.vxp.web` the handlers mounted under ``[vxp] base_path``.
See docs/vxp.md.
"""

from hub.vxp.web import install

__all__ = ["install"]
