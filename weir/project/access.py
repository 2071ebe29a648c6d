"""Roles, grants, masks and row filters, and the users that hold roles (``weir.yml``)."""

from __future__ import annotations

from weir.project.base import _Strict


class RoleConfig(_Strict):
    """A role: the datasets it may read, how its columns are masked, which rows it sees."""


class UserConfig(_Strict):
    """A person or service and the roles it may act as."""
