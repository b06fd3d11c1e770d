"""Who may see what (DESIGN §6, regulation Art. 4, 8–10): the one place reads are scoped.

A user belongs to an org unit and has a role:

- **Sites** come from the unit: a level-1 (national) user sees every site, including sites
  not yet registered under a unit; a level-2 or level-3 user sees the registered sites whose
  unit lies in their own subtree.
- **Cameras** come from the role: an admin sees every camera of those sites; a monitor sees
  only the cameras granted to them (Art. 9) — and of a site's camera-less events (a metal
  detector without a camera) only those of sites where they hold a grant.

``Scope.of(session, user)`` computes this once per request; routes turn it into SQL with
``sites_clause`` / ``cameras_clause`` and check single rows with ``allows``. Every route
gets its scope through ``central.api.deps.UserScope``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from central.db.models import Grant, OrgUnit, Site, User


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
