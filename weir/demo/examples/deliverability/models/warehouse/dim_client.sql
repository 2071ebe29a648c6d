/*
kind: scd2
unique_key: [client_id]
valid_from: valid_from
grain: [client_id, valid_from]
owner: sales
description: >
  The clients with their history (SCD2): a new version whenever a daily
  workbook shows a change (most often a change of plan). The workbook dated
  D is the state at the start of day D, so an e-mail sent on day D belongs to
  the version valid on D (valid_from <= D < coalesce(valid_to, 'infinity')).
audits:
  - not_null: [client_id, valid_from, client_name, plan, monthly_quota]
  - unique: [client_id, valid_from]
  - accepted_values: {column: plan, values: [Starter, Growth, Scale, Enterprise]}
*/
SELECT
    client_id,
    client_name,
    plan,
    monthly_quota,
    industry,
    account_manager,
    billing_contact,
    signed_on,
    _extract_date AS valid_from
FROM staging.clients
