"""``import org-tree | sites | cameras FILE.csv`` (docs/central.md has the formats).

Every row is checked against the file and the database before anything is written; any bad
row rejects the whole file (``ImportRejected`` lists them all, with line numbers). The
accepted file is then written in one transaction, in chunks of ``CHUNK`` rows for the
progress bar: if a write fails (say a concurrent change), the transaction is rolled back and
nothing of the file is kept. Re-importing a file changes nothing: rows that exist with the
same values are left alone; rows that exist with other values are reported and updated only
with ``update=True``. Units and sites are never moved by an import (that is a reported bad
row). Each created or updated row is an audit line, plus one ``import.KIND`` line naming
the file and its SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central import audit
from central.csvrows import CsvRow, CsvTable, ImportRejected, read_table
from central.db.models import Camera, OrgUnit, Site
from central.orgs import MAX_LEVEL, check_unit
from central.progress import Progress
from wire import topics
from wire.errors import StoreError, WireError

CHUNK = 1000
SITE_LIMITS = {"enterprise_name": 200, "registration_no": 64, "address": 400, "location_code": 64}
TRUE, FALSE = {"1", "true", "yes", "y", "是"}, {"", "0", "false", "no", "n", "否"}


@dataclass(frozen=True)
class Change:
    line: int
    target: str  # the audit target: org code, site id, "site/camera"
    values: dict[str, Any]  # the row to insert, or the primary key and the new values
    changed: dict[str, list[Any]] = field(default_factory=dict)  # field -> [database, file]
    detail: dict[str, Any] = field(default_factory=dict)  # of a create's audit line


@dataclass
class Plan:
    kind: str
    rows: int = 0
    sha256: str = ""  # of the file
    creates: list[Change] = field(default_factory=list)
    updates: list[Change] = field(default_factory=list)  # rows whose values differ
    unchanged: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def bad(self, row: CsvRow, reasons: Sequence[str]) -> None:
        self.problems += [(row.line, reason) for reason in reasons]

    def compare(
        self,
        row: CsvRow,
        target: str,
        old: dict[str, Any],
        new: dict[str, Any],
        key: dict[str, Any],
    ) -> None:
        """Count a row that exists: unchanged, or an update of the fields that differ."""
        changed = {name: [old[name], value] for name, value in new.items() if old[name] != value}
        if changed:
            self.updates.append(Change(row.line, target, {**key, **new}, changed))
        else:
            self.unchanged += 1


def _id_problem(value: str, what: str) -> list[str]:
    try:
        topics.check_id(value, what)
    except WireError as exc:
        return [str(exc)]
    return []


def _twice(seen: dict[Any, int], key: Any, row: CsvRow, what: str) -> list[str]:
    if key in seen:
        return [f"{what} is also on line {seen[key]}"]
    seen[key] = row.line
    return []


def plan_org_tree(session: Session, table: CsvTable) -> Plan:
    """Columns code, name, parent (a code in the database or the file); any row order."""
    plan, seen = Plan("org-tree"), dict[str, int]()
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    code_of = {u.id: u.code for u in units.values()}
    wanted: dict[str, CsvRow] = {}
    for row in table.rows:
        code, name, parent = row.cells["code"], row.cells["name"], row.cells["parent"]
        reasons = _twice(seen, code, row, f"org {code!r}")
        try:
            check_unit(code, name)
        except WireError as exc:
            reasons.append(str(exc))
        old = units.get(code)
        old_parent = code_of.get(old.parent_id or 0, "") if old else None
        if old is not None and parent != old_parent:
            reasons.append(
                f"org {code} is under {old_parent or 'no unit'} in the database, not "
                f"{parent or 'no unit'}: an import does not move units"
            )
        elif old is None and not parent:
            reasons.append(f"org {code}: the parent is empty (only the national unit has none)")
        plan.bad(row, reasons)
        if not reasons:
            wanted[code] = row
    levels = {code: u.level for code, u in units.items()}

    def level(code: str) -> int:
        """Its level by the parent chain; 0 if the chain loops or reaches a bad row."""
        chain: list[str] = []
        while code not in levels:
            if code not in wanted or code in chain:
                levels.update(dict.fromkeys(chain, 0))
                return 0
            chain.append(code)
            code = wanted[code].cells["parent"]
        for depth, link in enumerate(reversed(chain), 1):
            levels[link] = levels[code] + depth if levels[code] else 0
        return levels[chain[0]] if chain else levels[code]

    for code, row in wanted.items():
        parent = row.cells["parent"]
        if code in units:
            plan.compare(
                row,
                code,
                {"name": units[code].name},
                {"name": row.cells["name"]},
                {"id": units[code].id},
            )
        elif parent not in units and parent not in seen:
            plan.bad(
                row, [f"org {code}: the parent {parent!r} is in neither the database nor the file"]
            )
        elif level(code) == 0:
            plan.bad(row, [f"org {code}: its chain of parents loops or passes a bad row"])
        elif levels[code] > MAX_LEVEL:
            plan.bad(
                row,
                [
                    f"org {code} would be level {levels[code]}: a branch unit "
                    f"(level {MAX_LEVEL}) cannot have units"
                ],
            )
        else:
            values = {
                "code": code,
                "name": row.cells["name"],
                "parent": parent,
                "level": levels[code],
            }
            detail = {"parent": parent, "level": levels[code]}
            plan.creates.append(Change(row.line, code, values, detail=detail))
    plan.creates.sort(key=lambda change: change.values["level"])
    return plan


def plan_sites(session: Session, table: CsvTable) -> Plan:
    """Columns id, org (a level-3 unit), enterprise_name; registration_no, address,
    location_code optional (a missing column leaves the stored value alone, an empty cell
    clears it)."""
    plan, seen = Plan("sites"), dict[str, int]()
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    sites = {s.id: s for s in session.scalars(select(Site))}
    fields = [name for name in SITE_LIMITS if name in table.columns]
    for row in table.rows:
        site_id, org = row.cells["id"], row.cells["org"]
        reasons = _id_problem(site_id, "site") + _twice(seen, site_id, row, f"site {site_id!r}")
        unit = units.get(org)
        if unit is None:
            reasons.append(f"org {org!r} is not in the database (import the org tree first)")
        elif unit.level != MAX_LEVEL:
            reasons.append(
                f"org {org} is level {unit.level}: sites belong to branch units (level {MAX_LEVEL})"
            )
        if not row.cells["enterprise_name"]:
            reasons.append("enterprise_name is empty")
        reasons += [
            f"{name} is longer than {SITE_LIMITS[name]} characters"
            for name in fields
            if len(row.cells[name]) > SITE_LIMITS[name]
        ]
        old = sites.get(site_id)
        if old is not None and unit is not None and old.org_unit_id != unit.id:
            reasons.append(
                f"site {site_id} is under another org in the database: an import "
                "does not move sites"
            )
        plan.bad(row, reasons)
        if reasons or unit is None:
            continue
        new = {name: row.cells[name] or None for name in fields}  # enterprise_name is set
        if old is None:
            values = {"id": site_id, "org_unit_id": unit.id, **new}
            plan.creates.append(Change(row.line, site_id, values, detail={"org": org}))
        else:
            plan.compare(row, site_id, {n: getattr(old, n) for n in new}, new, {"id": site_id})
    return plan


def _ptz(value: str) -> bool | None:
    value = value.lower()
    return True if value in TRUE else False if value in FALSE else None


def plan_cameras(session: Session, table: CsvTable) -> Plan:
    """Columns site, camera, name; ptz optional (1/0, true/false, yes/no; empty: no)."""
    plan, seen = Plan("cameras"), dict[tuple[str, str], int]()
    sites = set(session.scalars(select(Site.id)))
    cameras = {(c.site_id, c.camera_id): c for c in session.scalars(select(Camera))}
    with_ptz = "ptz" in table.columns
    for row in table.rows:
        site, camera, name = row.cells["site"], row.cells["camera"], row.cells["name"]
        reasons = _id_problem(camera, "camera")
        reasons += _twice(seen, (site, camera), row, f"camera {site}/{camera}")
        if site not in sites:
            reasons.append(f"site {site!r} is not in the database (import the sites first)")
        if not name or len(name) > 200:
            reasons.append("name must be 1-200 characters")
        ptz = _ptz(row.cells["ptz"]) if with_ptz else False
        if ptz is None:
            reasons.append(f"ptz {row.cells['ptz']!r}: use 1/0, true/false or yes/no")
        plan.bad(row, reasons)
        if reasons:
            continue
        new: dict[str, Any] = {"name": name, **({"ptz": ptz} if with_ptz else {})}
        old = cameras.get((site, camera))
        target, key = f"{site}/{camera}", {"site_id": site, "camera_id": camera}
        if old is None:
            values = {**key, "name": name, "ptz": ptz}
            plan.creates.append(Change(row.line, target, values, detail={"ptz": ptz}))
        else:
            plan.compare(row, target, {n: getattr(old, n) for n in new}, new, key)
    return plan


PLANNERS: dict[str, tuple[Callable[[Session, CsvTable], Plan], list[str], list[str]]] = {
    "org-tree": (plan_org_tree, ["code", "name", "parent"], []),
    "sites": (plan_sites, ["id", "org", "enterprise_name"], list(SITE_LIMITS)[1:]),
    "cameras": (plan_cameras, ["site", "camera", "name"], ["ptz"]),
}


def plan_file(session: Session, kind: str, path: Path) -> Plan:
    """Read and check ``path``; ``ImportRejected`` lists every bad row."""
    planner, required, optional = PLANNERS[kind]
    table = read_table(path, required, optional)
    plan = planner(session, table)
    plan.rows, plan.sha256 = len(table.rows), table.sha256
    plan.problems += table.problems
    if plan.problems:
        raise ImportRejected(path, [f"line {n}: {reason}" for n, reason in sorted(plan.problems)])
    return plan


def _create_units(session: Session, changes: Sequence[Change]) -> None:
    """Units one by one (parents first): a unit's path holds its id."""
    ids = {code: unit_id for unit_id, code in session.execute(select(OrgUnit.id, OrgUnit.code))}
    paths = {unit_id: path for unit_id, path in session.execute(select(OrgUnit.id, OrgUnit.path))}
    for change in changes:
        values = change.values
        parent_id = ids[values["parent"]]
        unit = OrgUnit(
            parent_id=parent_id,
            level=values["level"],
            code=values["code"],
            name=values["name"],
            path="",
        )
        session.add(unit)
        session.flush()
        unit.path = paths[unit.id] = f"{paths[parent_id]}{unit.id}/"
        ids[unit.code] = unit.id
    session.flush()


MODELS: dict[str, type[OrgUnit] | type[Site] | type[Camera]] = {
    "org-tree": OrgUnit,
    "sites": Site,
    "cameras": Camera,
}
ACTIONS = {"org-tree": "org", "sites": "site", "cameras": "camera"}


def _audit_detail(change: Change, source: str) -> dict[str, Any]:
    detail = {"changed": change.changed} if change.changed else change.detail
    return {**detail, "import": source}


def apply_plan(
    session: Session,
    plan: Plan,
    path: Path,
    actor: str,
    update_rows: bool,
    stream: TextIO | None = None,
) -> None:
    """Write ``plan`` into ``session``'s transaction (the caller commits or rolls back)."""
    model, action = MODELS[plan.kind], ACTIONS[plan.kind]
    updates = plan.updates if update_rows else []
    if not plan.creates and not updates:
        return
    try:
        with Progress(len(plan.creates) + len(updates), f"{path.name}", stream) as bar:
            if plan.kind == "org-tree":
                _create_units(session, plan.creates)
            for verb, changes in (("add", plan.creates), ("update", updates)):
                for first in range(0, len(changes), CHUNK):
                    chunk = changes[first : first + CHUNK]
                    if plan.kind != "org-tree" or verb == "update":
                        statement = insert(model) if verb == "add" else update(model)
                        session.execute(statement, [change.values for change in chunk])
                    audit.append_many(
                        session,
                        actor,
                        [
                            (f"{action}.{verb}", c.target, _audit_detail(c, path.name))
                            for c in chunk
                        ],
                    )
                    bar.advance(len(chunk))
    except IntegrityError as exc:
        raise StoreError(
            f"{path}: the database changed while importing ({exc.orig}); "
            "nothing written, import again"
        ) from exc
    audit.append(
        session,
        actor,
        f"import.{plan.kind}",
        path.name,
        {
            "sha256": plan.sha256,
            "rows": plan.rows,
            "created": len(plan.creates),
            "updated": len(updates),
            "unchanged": plan.unchanged,
        },
    )
