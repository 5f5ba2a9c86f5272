"""Who may do what: the one place of the web application's role rules (issue 13).

=============  ==========================================================================
data-entry     reads and writes the forms of the subjects of its own site
investigator   the same; signs a subject's casebook
monitor        reads (its site's, or every site's without one), raises queries; never edits
data-manager   reads every site, raises and closes queries, locks the store, exports
statistician   reads every site (blind to treatment), exports; never edits
admin          accounts and definitions, unlocks the store; no clinical data
=============  ==========================================================================

Arms are shown to no role here: the unblinded roles come with the randomization (issue 14).

>>> from xerotrial.store.accounts import User
>>> ana = User("ana", "data-entry", "rh")
>>> may_read(ana, "rh"), may_read(ana, "ou"), may_write(ana, "rh")
(True, False, True)
>>> may_write(User("mo", "monitor", None), "rh"), may_read(User("root", "admin", None), "rh")
(False, False)
>>> may_sign(User("ivy", "investigator", "rh"), "rh"), may_sign(ana, "rh")
(True, False)
"""

from __future__ import annotations

from xerotrial.store.accounts import User

__all__ = [
    "LOCK_ROLES",
    "READ_ROLES",
    "UNBLINDED_ROLES",
    "UNLOCK_ROLES",
    "WRITE_ROLES",
    "QUERY_ROLES",
    "SDV_ROLES",
    "SIGN_ROLES",
    "may_answer_query",
    "may_close_query",
    "may_raise_query",
    "may_read",
    "may_see_arms",
    "may_sign",
    "may_verify",
    "may_write",
]

#: Roles that read clinical data.
READ_ROLES = frozenset({"data-entry", "investigator", "monitor", "data-manager", "statistician"})
#: Roles that enter and change clinical data.
WRITE_ROLES = frozenset({"data-entry", "investigator"})
#: Roles that lock the store, and that unlock it.
LOCK_ROLES = frozenset({"data-manager"})
UNLOCK_ROLES = frozenset({"admin"})
#: Roles that see the treatment arms (none until the randomization's unblinded roles).
UNBLINDED_ROLES: frozenset[str] = frozenset()


def _site_ok(user: User, site: str | None) -> bool:
    return user.site is None or user.site == site


def may_read(user: User, site: str | None) -> bool:
    """Whether ``user`` may read a subject of ``site``."""
    return not user.disabled and user.role in READ_ROLES and _site_ok(user, site)


def may_write(user: User, site: str | None) -> bool:
    """Whether ``user`` may enter or change data of a subject of ``site``."""
    return not user.disabled and user.role in WRITE_ROLES and _site_ok(user, site)


#: Roles that raise queries, that verify source data, that sign casebooks.
QUERY_ROLES = frozenset({"monitor", "data-manager"})
SDV_ROLES = frozenset({"monitor"})
SIGN_ROLES = frozenset({"investigator"})


def may_raise_query(user: User, site: str | None) -> bool:
    """Whether ``user`` may raise a query on a subject of ``site``."""
    return may_read(user, site) and user.role in QUERY_ROLES


def may_answer_query(user: User, site: str | None) -> bool:
    """Whether ``user`` may answer a query on a subject of ``site`` (the site's staff)."""
    return may_write(user, site)


def may_close_query(user: User, raised_by: str) -> bool:
    """Whether ``user`` may close or re-open a query: its raiser only."""
    return not user.disabled and user.name == raised_by


def may_verify(user: User, site: str | None) -> bool:
    """Whether ``user`` may mark source-data verification on a subject of ``site``."""
    return may_read(user, site) and user.role in SDV_ROLES


def may_sign(user: User, site: str | None) -> bool:
    """Whether ``user`` may sign the casebook of a subject of ``site``."""
    return may_write(user, site) and user.role in SIGN_ROLES


def may_see_arms(user: User) -> bool:
    """Whether ``user`` sees the subjects' arms."""
    return user.role in UNBLINDED_ROLES
