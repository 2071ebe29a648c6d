"""The governance component: roles and grants, the SQL gateway, tokens, the audit log."""
