/* The sites tab: the sites the user may see, and one site's facts, cameras and zones; admins
   add units, sites and cameras of their subtree. Uses app.js's state, $, t, API, api,
   authorised, problem, role, load, showFacts and unitLabel. */
"use strict";
/* The sites the user may see, with the names of their units. GET /sites takes no filters: the
   site field keeps the sites whose id or enterprise name contain it. */
async function sitesPage() {
  const [sites, units] = await Promise.all([api(`${API}/sites`), api(`${API}/orgs`)]);
  const names = new Map(units.map((u) => [u.code, u.name]));
  const wanted = String(new FormData($("#filters")).get("site") || "").trim().toLowerCase();
  const items = sites
    .filter((s) => !wanted || s.id.toLowerCase().includes(wanted) || s.enterprise_name.toLowerCase().includes(wanted))
    .map((s) => Object.assign({ org_name: names.get(s.org) || "" }, s));
  return { items, next_cursor: null };
}

function fillTable(sel, labels, rows) {
  const head = document.createElement("tr");
  for (const key of labels) { const th = document.createElement("th"); th.textContent = t(key); head.append(th); }
  $(sel + " thead").replaceChildren(head);
  $(sel + " tbody").replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const value of cells) { const td = document.createElement("td"); td.textContent = value; tr.append(td); }
    return tr;
  }));
  $(sel).hidden = rows.length === 0;
}

/* A site: its facts, its cameras (the ones the user may see) and its zones. Read-only. */
async function showSite(site) {
  const base = `${API}/sites/${encodeURIComponent(site.id)}`;
  const shown = ++state.shown;
  state.clip = null;
  $("#player").pause();
  $("#player").hidden = true; $("#download").hidden = true; $("#session-clips").hidden = true;
  $("#hold-actions").hidden = true; $("#site-detail").hidden = true;
  showFacts([["col.siteid", site.id], ["col.enterprise", site.enterprise_name],
    ["col.regno", site.registration_no || "—"], ["fact.address", site.address || "—"],
    ["col.location", site.location_code || "—"], ["col.org", unitLabel(site)]]);
  $("#detail-error").textContent = "";
  $("#detail").hidden = false;
  let cameras, zones;
  try {
    [cameras, zones] = await Promise.all([api(base + "/cameras"), api(base + "/zones")]);
  } catch (err) {
    if (shown === state.shown) $("#detail-error").textContent = err.message;
    return;
  }
  if (shown !== state.shown) return; // another row was chosen meanwhile
  const zoneNames = new Map(zones.map((z) => [z.code, z.name]));
  fillTable("#site-cameras", ["col.camera", "col.name", "col.zone", "col.ptz"], cameras.map((c) => [
    c.camera, c.name, c.zone ? `${zoneNames.get(c.zone) || ""} (${c.zone})` : "—", t(c.ptz ? "bool.yes" : "bool.no")]));
  fillTable("#site-zones", ["col.code", "col.name", "col.cameras"],
    zones.map((z) => [z.code, z.name, z.cameras.join(", ") || "—"]));
  $("#site-no-cameras").hidden = cameras.length > 0;
  $("#site-no-zones").hidden = zones.length > 0;
  $("#camera-add").hidden = role() !== "admin";
  state.site = site;
  $("#site-detail").hidden = false;
}

/* Admins on the sites tab: the forms that add a unit or a site, with the units they may use
   (a unit goes under a provincial or national one, a site under a branch). */
async function showTreeForms(view) {
  const on = view === "sites" && role() === "admin";
  if (!on) { $("#tree-forms").hidden = true; return; }
  let units;
  try { units = await api(`${API}/orgs`); } catch (err) { $("#tree-error").textContent = err.message; return; }
  if (state.view !== "sites") return; // the tab was left meanwhile
  const options = (wanted) => units.filter(wanted).map((u) => {
    const option = document.createElement("option");
    option.value = u.code; option.textContent = `${u.name} (${u.code})`;
    return option;
  });
  $("#org-add [name=parent]").replaceChildren(...options((u) => u.level < 3));
  $("#site-add [name=org]").replaceChildren(...options((u) => u.level === 3));
  $("#tree-forms").hidden = false; // shown once its unit choices are there
}

/* POST a form's fields (empty optional ones left out); true when the API took them. */
async function addFromForm(form, path, extra = {}) {
  const body = Object.fromEntries([...new FormData(form)].filter(([, v]) => String(v).trim() !== ""));
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  $("#tree-done").textContent = ""; $("#tree-error").textContent = ""; $("#detail-error").textContent = "";
  try {
    const response = await authorised(`${API}${path}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ...body, ...extra }) });
    if (!response.ok) {
      const where = form.id === "camera-add" ? "#detail-error" : "#tree-error";
      $(where).textContent = t("users.refused") + ": " + (await problem(response));
      return false;
    }
  } finally {
    submit.disabled = false;
  }
  form.reset();
  return true;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#org-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    const code = $("#org-add [name=code]").value.trim();
    if (await addFromForm(e.target, "/orgs")) {
      $("#tree-done").textContent = t("tree.added").replace("{x}", () => code);
      showTreeForms(state.view);
    }
  });
  $("#site-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = $("#site-add [name=id]").value.trim();
    if (await addFromForm(e.target, "/sites")) {
      $("#tree-done").textContent = t("tree.added").replace("{x}", () => id);
      load(true);
    }
  });
  $("#camera-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    const site = state.site;
    const ptz = $("#camera-add [name=ptz]").checked;
    if (site && await addFromForm(e.target, `/sites/${encodeURIComponent(site.id)}/cameras`, { ptz })) showSite(site);
  });
  document.addEventListener("rw:signed-in", () => showTreeForms(state.view));
});
