"""Who may see what (DESIGN §6, regulation Art. 4, 8–10): the one place reads are scoped.

A user belongs to an org unit and has a role:

- **Sites** come from the unit: a level-1 (national) user sees every site, including sites
  not yet registered under a unit; a level-2 or level-3 user sees the registered sites whose
  unit lies in their own subtree.
- **Cameras** come from the role: an admin sees every camera of those sites; a monitor sees
  only the cameras granted to them (Art. 9) — and of a site's camera-less events (a metal
  detector without a camera) only those of sites where they hold a grant.

- **Audit lines** are for admins only: a national admin reads every line; a level-2 or
  level-3 admin reads the lines whose actor is a user of their subtree, or whose target is
  a user, org unit, site, camera, zone or device (``site/…``), clip or transfer of their
  subtree — which kind of thing a target names follows from the action (``AUDIT_TARGETS``).
  A clip line that records its clip's site in its detail (``clip.delete``: the clip is gone)
  is scoped by that site, not by looking the clip up. Lines about nothing in the tree
  (certificate authority, terminals, rate limits of an address, bulk imports) are national
  only.

``Scope.of(session, user)`` computes this once per request; routes turn it into SQL with
``sites_clause`` / ``cameras_clause`` / ``audit_clause`` and check single rows with
``allows``. Every route gets its scope through ``central.api.deps.UserScope``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, and_, exists, false, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from central.db.models import Audit, Clip, Grant, OrgUnit, Site, Transfer, User

# What an audit line's target names, by action: exact actions, then action prefixes.
AUDIT_USER_ACTIONS = frozenset(
    {"auth.login", "auth.logout", "auth.fail", "auth.lockout", "auth.unlock", "session.revoke",
     "terminal.bind", "terminal.unbind"}
)  # fmt: skip
AUDIT_TARGETS = {
    "user": ("user.", "grant."),  # a user name
    "org": ("org.",),  # an org unit code
    "site": ("site.",),  # a site id
    "site/": ("camera.", "zone.", "device.", "ca."),  # "site/camera", "site/zone", "site/device"
    "clip": ("clip.",),  # a clip id
    "transfer": ("transfer.",),  # a transfer (file) id
}


class _SiteOf(FunctionElement[str]):
    """The part of ``site/rest`` before the first slash (SQL)."""

    type = String()
    inherit_cache = True


@compiles(_SiteOf)
def _site_of_sqlite(element: _SiteOf, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"substr({arg}, 1, instr({arg}, '/') - 1)"


@compiles(_SiteOf, "postgresql")
def _site_of_postgresql(element: _SiteOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"split_part({compiler.process(element.clauses, **kw)}, '/', 1)"


@dataclass(frozen=True)
class Scope:
    user: User
    unit: OrgUnit
    all_sites: bool  # national: every site, registered or not

    @classmethod
    def of(cls, session: Session, user: User) -> Scope:
        unit = session.get(OrgUnit, user.org_unit_id)
        if unit is None:  # a dangling unit id is a data error: see nothing
            unit = OrgUnit(id=-1, level=3, code="", name="", path="/-1/")
        return cls(user=user, unit=unit, all_sites=unit.level == 1)

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def _unit_sites(self) -> ColumnElement[str] | None:
        """Subquery of the site ids under the user's unit (None: every site)."""
        if self.all_sites:
            return None
        units = select(OrgUnit.id).where(OrgUnit.path.startswith(self.unit.path))
        return select(Site.id).where(Site.org_unit_id.in_(units)).scalar_subquery()

    def sites_clause(self, site_col: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        """Rows of a site this user may see at all."""
        unit_sites = self._unit_sites()
        clause: ColumnElement[bool] = true() if unit_sites is None else site_col.in_(unit_sites)
        if not self.is_admin:
            granted = select(Grant.site_id).where(Grant.user_id == self.user.id)
            clause = and_(clause, site_col.in_(granted))
        return clause

    def cameras_clause(
        self,
        site_col: InstrumentedAttribute[str],
        camera_col: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
        allow_no_camera: bool = True,
    ) -> ColumnElement[bool]:
        """Rows of a camera this user may see (plus camera-less rows of visible sites)."""
        clause = self.sites_clause(site_col)
        if self.is_admin:
            return clause
        granted = exists().where(
            Grant.user_id == self.user.id,
            Grant.site_id == site_col,
            Grant.camera_id == camera_col,
        )
        camera_ok = or_(camera_col.is_(None), granted) if allow_no_camera else granted
        return and_(clause, camera_ok)

    def allows(self, session: Session, site: str, camera: str | None) -> bool:
        """May this user see a row of ``site`` / ``camera``?"""
        if not self.all_sites:
            row = session.get(Site, site)
            if row is None:
                return False
            unit = session.get(OrgUnit, row.org_unit_id)
            if unit is None or not unit.path.startswith(self.unit.path):
                return False
        if self.is_admin:
            return True
        grants = select(Grant.camera_id).where(Grant.user_id == self.user.id, Grant.site_id == site)
        held = set(session.scalars(grants))
        return bool(held) and (camera is None or camera in held)

    def units_clause(self) -> ColumnElement[bool]:
        """Org units this user may list: their own subtree."""
        return OrgUnit.path.startswith(self.unit.path) if self.unit.id >= 0 else false()

    def audit_clause(self) -> ColumnElement[bool]:
        """Audit lines this user may read (see the module docstring)."""
        if not self.is_admin:
            return false()
        if self.all_sites:
            return true()
        in_tree = OrgUnit.path.startswith(self.unit.path)
        codes = select(OrgUnit.code).where(in_tree)
        users = select(User.username).where(User.org_unit_id.in_(select(OrgUnit.id).where(in_tree)))
        sites = select(Site.id).where(Site.org_unit_id.in_(select(OrgUnit.id).where(in_tree)))
        clips = select(Clip.id).where(Clip.site.in_(sites))
        transfers = select(Transfer.file_id).where(Transfer.site.in_(sites))

        def about(kind: str) -> ColumnElement[bool]:
            return or_(*(Audit.action.startswith(prefix) for prefix in AUDIT_TARGETS[kind]))

        # the site a clip line recorded (the clip may be gone); lines without one: the clip's
        recorded_site = Audit.detail["site"].as_string()
        clip_site = or_(
            recorded_site.in_(sites), and_(recorded_site.is_(None), Audit.target.in_(clips))
        )
        return or_(
            Audit.actor.in_(users),
            and_(or_(Audit.action.in_(AUDIT_USER_ACTIONS), about("user")), Audit.target.in_(users)),
            and_(about("org"), Audit.target.in_(codes)),
            and_(about("site"), Audit.target.in_(sites)),
            and_(about("site/"), Audit.target.contains("/"), _SiteOf(Audit.target).in_(sites)),
            and_(about("clip"), clip_site),
            and_(about("transfer"), Audit.target.in_(transfers)),
        )
