/*
kind: full
grain: [client_id, address]
owner: operations
description: >
  The suppression list as of its newest daily snapshot: one row per client
  and address that must not be mailed, with why (hard_bounce, complaint) and
  since when.
audits:
  - not_null: [client_id, address, reason, suppressed_at]
  - unique: [client_id, address]
*/
SELECT client_id, address, reason, suppressed_at
FROM staging.suppressions
WHERE _extract_date = (SELECT max(_extract_date) FROM staging.suppressions)
