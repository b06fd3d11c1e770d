/* The users tab, for admins (regulation Art. 8-10): the users of the admin's org subtree, a
   form to add one and, for the chosen user, enable/disable, role and camera grants. The API
   decides (a monitor gets 403): this only shows its refusals. Uses the globals of i18n.js (t)
   and app.js (API, state, $, authorised, problem, when, badge, role, unitLabel, switchView);
   app.js calls Users.load and Users.toggle and fires rw:signed-in / rw:signed-out. */
"use strict";
const Users = (() => {
  const PAGE = 50;
  const my = { cursor: null, units: [], sites: [], chosen: null, user: null, grants: [],
    loads: 0, shown: 0, cameraAsks: 0 };
  const COLUMNS = [
    ["col.username", (u) => u.username], ["col.role", (u) => t("role." + u.role)],
    ["col.org", (u) => unitLabel(u)], ["col.state", (u) => badge(!u.disabled, "users.enabled", "users.disabled")],
    ["col.grants", (u) => String(u.grants)],
  ];
  const enc = encodeURIComponent;
  const userPath = (name) => "/users/" + enc(name);

  /* An API call: the response's body (null for 204), or an Error holding the refusal's detail. */
  async function call(method, path, body) {
    const options = { method };
    if (body !== undefined) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    const response = await authorised(API + path, options);
    if (!response.ok) throw new Error(await problem(response));
    return response.status === 204 ? null : response.json();
  }

  function option(value, text) {
    const el = document.createElement("option");
    el.value = value; el.textContent = text;
    return el;
  }

  /* Replace a select's choices (keeping its empty placeholder and, if still offered, the choice). */
  function fill(select, items) {
    const chosen = select.value;
    const blank = select.querySelector("option[value='']");
    select.replaceChildren(...(blank ? [blank] : []), ...items.map(([value, text]) => option(value, text)));
    if (items.some(([value]) => value === chosen)) select.value = chosen;
  }

  /* The units the admin may see, top-down and indented by level. */
  function fillUnits() {
    const top = Math.min(...my.units.map((u) => u.level));
    const items = my.units.map((u) => [u.code, "\u3000".repeat(u.level - top) + `${u.name} (${u.code})`]);
    fill($("#user-add [name=org]"), items);
    fill($("#user-filter [name=org]"), items);
    fill($("#user-role [name=org]"), items);
  }

  /* The codes of a unit and of every unit below it (units come top-down). */
  function subtree(code) {
    const codes = new Set([code]);
    for (const u of my.units) if (u.parent && codes.has(u.parent)) codes.add(u.code);
    return codes;
  }

  async function load(fresh) {
    const asked = ++my.loads;
    if (fresh) {
      my.cursor = null;
      $("#user-table tbody").replaceChildren();
      const head = document.createElement("tr");
      for (const [key] of COLUMNS) { const th = document.createElement("th"); th.textContent = t(key); head.append(th); }
      $("#user-table thead").replaceChildren(head);
    }
    $("#users-error").textContent = "";
    if (fresh) $("#user-add-error").textContent = "";
    const params = new URLSearchParams({ limit: String(PAGE) });
    const org = $("#user-filter [name=org]").value;
    if (org) params.set("org", org);
    if (my.cursor) params.set("cursor", my.cursor);
    let page;
    try {
      if (fresh) [my.units, my.sites] = await Promise.all([call("GET", "/orgs"), call("GET", "/sites")]);
      page = await call("GET", "/users?" + params);
    } catch (err) {
      if (asked === my.loads) $("#users-error").textContent = t("err.load") + ": " + err.message;
      return;
    }
    if (asked !== my.loads) return; // a newer listing was asked for meanwhile
    if (fresh) fillUnits();
    for (const user of page.items) $("#user-table tbody").append(row(user));
    my.cursor = page.next_cursor;
    $("#user-more").hidden = !page.next_cursor;
    $("#user-empty").hidden = $("#user-table tbody").children.length > 0;
    if (fresh && my.chosen) choose(my.chosen); // e.g. the language changed: draw it again
  }

  function row(user) {
    const tr = document.createElement("tr");
    tr.dataset.user = user.username;
    for (const [, cell] of COLUMNS) {
      const td = document.createElement("td");
      const value = cell(user);
      if (value instanceof Node) td.append(value); else td.textContent = value;
      tr.append(td);
    }
    tr.classList.toggle("selected", user.username === my.chosen);
    tr.addEventListener("click", () => choose(user.username));
    return tr;
  }

  /* Show a changed user in the list too. */
  function update(user) {
    const old = [...$("#user-table tbody").children].find((tr) => tr.dataset.user === user.username);
    if (old) old.replaceWith(row(user));
  }

  function error(message) { $("#user-error").textContent = message; }
  function refused(err) { error(t("users.refused") + ": " + err.message); }

  /* The chosen user: their facts and grants, fetched afresh. */
  async function choose(name) {
    const shown = ++my.shown;
    my.chosen = name;
    document.querySelectorAll("#user-table tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.user === name));
    let user, grants;
    try {
      [user, grants] = await Promise.all([call("GET", userPath(name)), call("GET", userPath(name) + "/grants")]);
    } catch (err) {
      if (shown === my.shown) error(t("err.load") + ": " + err.message);
      return;
    }
    if (shown !== my.shown) return; // another user was chosen meanwhile
    error("");
    if (name !== my.user?.username) $("#user-done").textContent = "";
    show(user, grants);
  }

  function show(user, grants) {
    my.user = user; my.grants = grants;
    update(user);
    $("#user-title").textContent = user.username;
    $("#user-facts").replaceChildren(...[
      ["col.role", t("role." + user.role)], ["col.org", unitLabel(user)],
      ["col.state", t(user.disabled ? "users.disabled" : "users.enabled")],
      ["fact.created", when(user.created_at)], ["col.grants", String(user.grants)],
    ].flatMap(([key, value]) => {
      const dt = document.createElement("dt"); dt.textContent = t(key);
      const dd = document.createElement("dd"); dd.textContent = value;
      return [dt, dd];
    }));
    $("#user-toggle").textContent = t(user.disabled ? "users.enable" : "users.disable");
    $("#user-toggle").className = user.disabled ? "" : "danger";
    $("#user-role [name=role]").value = user.role;
    $("#user-role [name=org]").value = user.org;
    showGrants(user, grants);
    $("#user-detail").hidden = false;
  }

  function showGrants(user, grants) {
    const head = document.createElement("tr");
    for (const key of ["col.camera", "col.name", "col.grantedby", "col.grantedat", ""]) {
      const th = document.createElement("th"); th.textContent = key ? t(key) : ""; head.append(th);
    }
    $("#user-grants thead").replaceChildren(head);
    $("#user-grants tbody").replaceChildren(...grants.map((g) => {
      const tr = document.createElement("tr");
      for (const value of [`${g.site} / ${g.camera}`, g.camera_name || "—", g.granted_by, when(g.granted_at)]) {
        const td = document.createElement("td"); td.textContent = value; tr.append(td);
      }
      const remove = document.createElement("button");
      remove.type = "button"; remove.className = "secondary"; remove.textContent = t("users.revoke");
      remove.addEventListener("click", () => act(remove, user.username, () =>
        call("DELETE", `${userPath(user.username)}/grants/${enc(g.site)}/${enc(g.camera)}`)));
      const td = document.createElement("td"); td.append(remove); tr.append(td);
      return tr;
    }));
    $("#user-grants").hidden = grants.length === 0;
    $("#user-no-grants").hidden = grants.length > 0;
    // a grant names a camera of a site in the grantee's own unit or below it
    const units = subtree(user.org);
    fill($("#grant-add [name=site]"), my.sites.filter((s) => units.has(s.org)).map((s) => [s.id, `${s.id} · ${s.enterprise_name}`]));
    loadCameras();
  }

  /* The cameras of the site chosen in the grant form. */
  async function loadCameras() {
    const site = $("#grant-add [name=site]").value;
    const asked = ++my.cameraAsks;
    let cameras = [];
    if (site) {
      try { cameras = await call("GET", `/sites/${enc(site)}/cameras`); } catch (err) { error(t("err.load") + ": " + err.message); }
    }
    if (asked !== my.cameraAsks) return; // the site changed meanwhile
    fill($("#grant-add [name=camera]"), cameras.map((c) => [c.camera, `${c.camera} · ${c.name}`]));
  }

  /* Run one change of user ``name`` with its button disabled; then show the user afresh. */
  async function act(button, name, change) {
    button.disabled = true;
    try {
      await change();
    } catch (err) {
      if (name === my.chosen) refused(err);
      return;
    } finally {
      button.disabled = false;
    }
    if (name === my.chosen) await choose(name);
    else call("GET", userPath(name)).then(update, () => {}); // another user was chosen meanwhile
  }

  function toggleDisabled() {
    const user = my.user;
    if (!user) return;
    const disable = !user.disabled;
    if (disable && !window.confirm(t("users.confirm").replace("{u}", () => user.username))) return;
    act($("#user-toggle"), user.username, () => call("PATCH", userPath(user.username), { disabled: disable }));
  }

  /* Role and unit: only what changed is sent (a move ends grants outside the new unit). */
  function changeRole(event) {
    event.preventDefault();
    const user = my.user;
    if (!user) return;
    const change = {};
    const role = $("#user-role [name=role]").value, org = $("#user-role [name=org]").value;
    if (role !== user.role) change.role = role;
    if (org && org !== user.org) change.org = org;
    if (!Object.keys(change).length) return;
    act($("#user-role button"), user.username, () => call("PATCH", userPath(user.username), change));
  }

  /* A forgotten password: the admin sets a new one; the user's sessions end. */
  async function resetPassword(event) {
    event.preventDefault();
    const user = my.user;
    const field = $("#user-password [name=new_password]");
    if (!user) return;
    const button = $("#user-password button");
    button.disabled = true;
    try {
      await call("PUT", `${userPath(user.username)}/password`, { new_password: field.value });
    } catch (err) {
      if (user.username === my.chosen) refused(err);
      return;
    } finally {
      button.disabled = false;
    }
    field.value = "";
    error("");
    $("#user-done").textContent = t("users.passwordreset").replace("{u}", () => user.username);
  }

  function addGrant(event) {
    event.preventDefault();
    const user = my.user;
    const site = $("#grant-add [name=site]").value;
    const camera = $("#grant-add [name=camera]").value;
    if (!user) return;
    if (!site || !camera) { error(t("users.pickcamera")); return; }
    act($("#grant-add button"), user.username, () => call("PUT", `${userPath(user.username)}/grants/${enc(site)}/${enc(camera)}`));
  }

  async function addUser(event) {
    event.preventDefault();
    const form = $("#user-add");
    const body = Object.fromEntries(new FormData(form));
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    let user;
    try {
      user = await call("POST", "/users", body);
    } catch (err) {
      $("#user-add-error").textContent = t("users.refused") + ": " + err.message;
      return;
    } finally {
      submit.disabled = false;
    }
    $("#user-add-error").textContent = "";
    form.querySelector("[name=username]").value = "";
    form.querySelector("[name=password]").value = "";
    my.chosen = user.username;
    load(true); // lists the new user and shows them
  }

  /* Show the users screen instead of the lists, or the lists again. */
  function toggle(view) {
    const on = view === "users";
    $("#users").hidden = !on; $("#lists").hidden = on; $("#filters").hidden = on;
  }

  function forget() {
    ++my.loads; ++my.shown;
    Object.assign(my, { cursor: null, units: [], sites: [], chosen: null, user: null, grants: [] });
    $("#user-table tbody").replaceChildren();
    $("#user-detail").hidden = true;
    $("#user-add").reset();
    for (const id of ["#user-add-error", "#users-error", "#user-error"]) $(id).textContent = "";
  }

  document.addEventListener("rw:signed-in", () => {
    const admin = role() === "admin";
    $("#tab-users").hidden = !admin;
    if (!admin && state.view === "users") switchView("clips", false);
  });
  document.addEventListener("rw:signed-out", () => {
    $("#tab-users").hidden = true;
    if (state.view === "users") switchView("clips", false);
    forget();
  });
  document.addEventListener("DOMContentLoaded", () => {
    $("#user-add").addEventListener("submit", addUser);
    $("#user-filter [name=org]").addEventListener("change", () => load(true));
    $("#user-filter").addEventListener("submit", (e) => { e.preventDefault(); load(true); });
    $("#user-more").addEventListener("click", () => load(false));
    $("#user-toggle").addEventListener("click", toggleDisabled);
    $("#user-role").addEventListener("submit", changeRole);
    $("#user-password").addEventListener("submit", resetPassword);
    $("#grant-add").addEventListener("submit", addGrant);
    $("#grant-add [name=site]").addEventListener("change", loadCameras);
  });

  return { load, toggle };
})();
