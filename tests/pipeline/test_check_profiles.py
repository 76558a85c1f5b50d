"""The signature check admits the legacy profile per call (a runtime setting), through the real
process pool: refused as before when no agency may use it, admitted and reported otherwise."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.config import load_config
from hub.demo.factory import Signer
from hub.demo.workdir import Workdir
from hub.errors import SignatureError
from hub.pipeline.checks import CheckOptions
from hub.pipeline.executor import CheckExecutor
from tests.api.test_signature_profiles import g22_legacy


async def test_admit_legacy_per_call_through_the_pool(
    workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    config = load_config(workdir.config_dir)
    data = g22_legacy(signers)
    options = CheckOptions(
        max_size=config.settings.max_package_bytes,
        trust_anchors=config.settings.trust_anchors,
    )
    at = signers("000.00.00.G22").certificate.not_valid_before_utc  # a moment it is valid
    async with CheckExecutor(options, processes=1) as executor:
        with pytest.raises(SignatureError) as refused:
            await executor.check(data, at)  # the default: strict, as before
        assert refused.value.code == "signature.algorithm_forbidden"
        checked = await executor.check(data, at, admit_legacy=True)
        assert checked.legacy_signature
        # The detail ingest refuses a strict sender with is the strict check's own.
        assert checked.legacy_refusal == refused.value.detail
        # Per call, in the same worker: strict again right after.
        with pytest.raises(SignatureError) as again:
            await executor.check(data, at, admit_legacy=False)
        assert (again.value.code, again.value.detail) == (
            refused.value.code,
            refused.value.detail,
        )
