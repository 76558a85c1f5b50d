-- Sub-units (issue 10): a delivery to an agency that represents its descendants lists the
-- original codes it was addressed to. JSON array of OrganIds in the order addressed; NULL
-- when the recipient receives the package only in its own name (every delivery before this
-- migration), so existing rows need no rewrite.
ALTER TABLE deliveries ADD COLUMN stands_for TEXT;
