"""Who may do what: the one place of the web application's role rules (issue 13).

=============  ==========================================================================
data-entry     reads and writes the forms of the subjects of its own site
investigator   the same; signs a subject's casebook
monitor        reads (its site's, or every site's without one), raises queries; never edits
data-manager   reads every site, raises and closes queries, locks the store, exports
statistician   reads every site (blind to treatment), exports; never edits
unblinded-     the randomization statistician (issue 14): makes the concealed list, sees
statistician   the arms, writes the DMC's closed report; reads every site; never edits
admin          accounts and definitions, unlocks the store; no clinical data
=============  ==========================================================================

The randomization's rules (:mod:`xerotrial.randomize.allocate`): the site's staff randomize
their own site's subjects (``may_randomize``); an investigator may break one subject's code
in an emergency (``may_unblind_subject``); only the unblinded roles see arms before the study
is unblinded at database lock.

>>> from xerotrial.store.accounts import ROLES, User
>>> ana = User("ana", "data-entry", "rh")
>>> may_read(ana, "rh"), may_read(ana, "ou"), may_write(ana, "rh")
(True, False, True)
>>> may_write(User("mo", "monitor", None), "rh"), may_read(User("root", "admin", None), "rh")
(False, False)
>>> may_sign(User("ivy", "investigator", "rh"), "rh"), may_sign(ana, "rh")
(True, False)
"""

from __future__ import annotations

from xerotrial.store.accounts import ROLES, User

__all__ = [
    "EMERGENCY_UNBLIND_ROLES",
    "LIST_ROLES",
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
    "may_make_list",
    "may_raise_query",
    "may_randomize",
    "may_read",
    "may_see_arms",
    "may_unblind_subject",
    "may_sign",
    "may_verify",
    "may_write",
]

#: Roles that read clinical data: all but the administrator's.
READ_ROLES = frozenset(ROLES) - {"admin"}
#: Roles that enter and change clinical data.
WRITE_ROLES = frozenset({"data-entry", "investigator"})
#: Roles that lock the store, and that unlock it.
LOCK_ROLES = frozenset({"data-manager"})
UNLOCK_ROLES = frozenset({"admin"})
#: Roles that see the treatment arms while the study is blinded.
UNBLINDED_ROLES: frozenset[str] = frozenset({"unblinded-statistician"})
#: Roles that make the concealed list; that break one subject's code in an emergency.
LIST_ROLES = frozenset({"unblinded-statistician"})
EMERGENCY_UNBLIND_ROLES = frozenset({"investigator"})


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
    """Whether ``user`` sees the subjects' arms while the study is blinded.

    >>> dmc, stat = User("dmc", "unblinded-statistician", None), User("s", "statistician", None)
    >>> may_see_arms(dmc), may_see_arms(stat)
    (True, False)
    """
    return not user.disabled and user.role in UNBLINDED_ROLES


def may_make_list(user: User) -> bool:
    """Whether ``user`` may make the study's concealed allocation list."""
    return not user.disabled and user.role in LIST_ROLES


def may_randomize(user: User, site: str | None) -> bool:
    """Whether ``user`` may randomize a subject of ``site`` (its site's staff)."""
    return may_write(user, site)


def may_unblind_subject(user: User, site: str | None) -> bool:
    """Whether ``user`` may break one subject's code in an emergency (its site's
    investigator, or an unblinded role)."""
    if user.disabled:
        return False
    return user.role in UNBLINDED_ROLES or (
        user.role in EMERGENCY_UNBLIND_ROLES and _site_ok(user, site)
    )
