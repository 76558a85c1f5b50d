"""The public adapter contract (see :mod:`hub.adapter.contract` for the whole story).

Adapters import from here and from the model packages (:mod:`hub.dossier`, :mod:`hub.edxml`)
only — never from the hub's store, pipeline or API.
"""

from hub.adapter.contract import (
    Adapter,
    AdapterConfig,
    AdapterError,
    AdapterFactory,
    AdapterSettings,
    DeliverRequest,
    DeliverResult,
    ExternalUnavailable,
    FromPackageRequest,
    NativeInvalid,
    NativeRecord,
    OutgoingPackage,
    PackageKindName,
    PackageModel,
    PollRequest,
    PollResult,
    SentHook,
    SentRequest,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    sent_hook,
)
from hub.adapter.formats import (
    ParsedPackage,
    model_from_verified,
    sign_outgoing,
    stable_package_id,
)

__all__ = [
    "Adapter",
    "AdapterConfig",
    "AdapterError",
    "AdapterFactory",
    "AdapterSettings",
    "DeliverRequest",
    "DeliverResult",
    "ExternalUnavailable",
    "FromPackageRequest",
    "NativeInvalid",
    "NativeRecord",
    "OutgoingPackage",
    "PackageKindName",
    "PackageModel",
    "ParsedPackage",
    "PollRequest",
    "PollResult",
    "SentHook",
    "SentRequest",
    "StartRequest",
    "StopRequest",
    "ToPackageRequest",
    "model_from_verified",
    "sent_hook",
    "sign_outgoing",
    "stable_package_id",
]
