"""The small supervision tree many central tests start from: national → Shandong (p-sd) →
Qingdao (b-qd) → site ``sd-1``; national → Fujian (p-fj) → Xiamen (b-xm) → site ``fj-1``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from central import orgs

SITES = {"sd-1": "b-qd", "fj-1": "b-xm"}  # site -> its branch unit


def add_units(session: Session, actor: str) -> None:
    """The two provinces and their branches."""
    orgs.add_unit(session, "p-sd", "山东局", "national", actor)
    orgs.add_unit(session, "b-qd", "青岛分支局", "p-sd", actor)
    orgs.add_unit(session, "p-fj", "福建局", "national", actor)
    orgs.add_unit(session, "b-xm", "厦门分支局", "p-fj", actor)


def add_tree(session: Session, actor: str, cameras: Sequence[str] = ("c1", "c2")) -> None:
    """The units, both sites and ``cameras`` on each (named ``"{site} {camera}"``)."""
    add_units(session, actor)
    for site, unit in SITES.items():
        orgs.add_site(session, site, unit, "水产", actor)
        for camera in cameras:
            orgs.add_camera(session, site, camera, f"{site} {camera}", actor)
