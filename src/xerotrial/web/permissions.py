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
"""

from __future__ import annotations

from xerotrial.store.accounts import User

__all__ = [
    "LOCK_ROLES",
    "READ_ROLES",
    "UNBLINDED_ROLES",
    "UNLOCK_ROLES",
    "WRITE_ROLES",
    "may_read",
    "may_see_arms",
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


def may_see_arms(user: User) -> bool:
    """Whether ``user`` sees the subjects' arms."""
    return user.role in UNBLINDED_ROLES
