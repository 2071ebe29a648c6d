/*
kind: full
grain: [sending_domain]
owner: operations
description: >
  One row per sending domain the CRM knows, in its newest version (the CRM
  keeps every change as its own record; the newest by updated_at wins):
  its client, the first day it sent (warmup_started_on), its warm-up plan
  and whether it sends from a dedicated IP. versions counts the changes seen.
audits:
  - not_null: [sending_domain, client_id, warmup_started_on, warmup_plan]
  - unique: [sending_domain]
*/
SELECT
    domain AS sending_domain,
    client_id,
    warmup_started_on,
    warmup_plan,
    dedicated_ip,
    tech_contact,
    updated_at,
    count(*) OVER (PARTITION BY domain) AS versions
FROM staging.crm_domains
QUALIFY row_number() OVER (PARTITION BY domain ORDER BY updated_at DESC) = 1
