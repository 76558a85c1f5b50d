"""hub.adapter.formats: what the connector's inbound path builds models with."""

from __future__ import annotations

import pytest
from lxml import etree

from hub.adapter import model_from_verified
from hub.edxml import EDXML_NS
from hub.errors import SchemaInvalid


def test_a_verified_tree_that_is_not_an_edxml_package_is_schema_invalid() -> None:
    """Signature verification does not validate the schema: a signed tree without a
    MessageHeader is a coded refusal of the package (``schema.invalid``, which the connector
    quarantines), not a bare ValueError (which it takes for a bug)."""
    root = etree.fromstring(f'<edXMLEnvelope xmlns="{EDXML_NS}"/>'.encode())
    with pytest.raises(SchemaInvalid, match="MessageHeader") as info:
        model_from_verified(root)
    assert info.value.code == "schema.invalid"
