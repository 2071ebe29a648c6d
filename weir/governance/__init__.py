"""The governance component: roles and grants, the SQL gateway and the queries it lets through,
credentials (API tokens and write keys), and the catalog and lineage as a principal sees them."""
