-- Signature profile per agency (issue 10, docs/signing.md): a runtime change recorded like
-- disable/enable, "strict" or "legacy"; NULL keeps the profile agencies.toml gives (or the
-- hub-wide [signing] allow_legacy).
ALTER TABLE agency_overrides ADD COLUMN signature_profile TEXT
    CHECK (signature_profile IN ('strict', 'legacy'));
