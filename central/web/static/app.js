/* Inspector UI: sign in, search clips, events and loading sessions, play and download clips,
   ask sites for recorded video (holds.js: admins hold clips; sites.js: the sites tab;
   users.js: the admins' users tab; password.js: change password; the last two hear
   rw:signed-in/out). No build step. */
"use strict";
const API = "/api/v1";
const state = {
  view: "clips", cursor: null, user: sessionStorage.getItem("rw.user"), clip: null, holdAction: null, shown: 0,
  token: sessionStorage.getItem("rw.token"), refresh: sessionStorage.getItem("rw.refresh"),
  expires: Number(sessionStorage.getItem("rw.expires")) || 0,
};
const RENEW_BEFORE_MS = 60 * 1000; // renew the access token this long before it expires
let renewTimer = null;
let renewing = null;
const $ = (sel) => document.querySelector(sel);

const COLUMNS = {
  clips: [
    ["col.time", (c) => when(c.start)], ["col.site", (c) => c.site], ["col.camera", (c) => c.camera],
    ["col.duration", (c) => seconds(c.start, c.end)], ["col.size", (c) => megabytes(c.size)],
    ["col.verified", (c) => badge(c.verified, "yes", "no")],
  ],
  events: [
    ["col.time", (e) => when(e.occurred_at)], ["col.site", (e) => e.site], ["col.device", (e) => e.device],
    ["col.camera", (e) => e.camera || "—"], ["col.kind", (e) => t("kind." + e.kind)],
    ["col.clock", (e) => badge(e.clock_synced, "synced", "unsynced")],
  ],
  "loading-sessions": [
    ["col.time", (s) => when(s.started_at)], ["col.site", (s) => s.site],
    ["col.container", (s) => s.container_no || "—"], ["col.plate", (s) => s.vehicle_plate || "—"],
    ["col.seals", (s) => s.seal_numbers.join(", ") || "—"],
    ["col.duration", (s) => (s.ended_at ? seconds(s.started_at, s.ended_at) : t("session.open"))],
  ],
  "upload-requests": [
    ["col.asked", (r) => when(r.issued_at)], ["col.site", (r) => r.site], ["col.device", (r) => r.device],
    ["col.camera", (r) => r.camera],
    ["col.window", (r) => `${when(r.start)} – ${seconds(r.start, r.end)}`],
    ["col.status", (r) => badge(!["failed", "expired"].includes(r.status), "status." + r.status, "status." + r.status)],
    ["col.detail", (r) => r.detail || "—"],
  ],
  sites: [
    ["col.siteid", (s) => s.id], ["col.enterprise", (s) => s.enterprise_name],
    ["col.regno", (s) => s.registration_no || "—"], ["col.location", (s) => s.location_code || "—"],
    ["col.org", (s) => unitLabel(s)],
  ],
};
const PENDING = ["queued", "sent", "accepted"];
let refreshTimer = null;

function when(iso) { return iso ? new Date(iso).toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB") : "—"; }
function seconds(a, b) { return ((new Date(b) - new Date(a)) / 1000).toFixed(1) + " s"; }
function megabytes(n) { return (n / 1048576).toFixed(2) + " MB"; }
function badge(ok, yes, no) {
  const span = document.createElement("span");
  span.className = "badge " + (ok ? "ok" : "bad");
  span.textContent = t(ok ? yes : no);
  return span;
}

/* The text of ``prefix.value`` (the value itself when there is none). */
function label(prefix, value) { const key = prefix + "." + value; return t(key) === key ? String(value) : t(key); }
function unitLabel(site) { return site.org_name ? `${site.org_name} (${site.org})` : site.org; }

/* The signed-in user's role, from the access token's claims. It only decides which controls
   are shown: the API refuses what the role may not do. */
function role() {
  try {
    const claims = (state.token || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(claims)).role || "");
  } catch (err) { return ""; }
}

/* The "detail" of an API refusal, as text (a 422 lists its problems). */
async function problem(response) {
  const detail = await response.json().then((b) => b.detail, () => "");
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) return detail.map((d) => d.msg || "").join("; ");
  return String(response.status);
}

function terminalSecret() { return localStorage.getItem("rw.terminal") || ""; }
function terminalHeaders() { return terminalSecret() ? { "X-ReeferWatch-Terminal": terminalSecret() } : {}; }

/* Keep the tokens of /auth/token or /auth/refresh for this tab, and plan the next renewal. */
function keep(body) {
  state.token = body.access_token;
  state.refresh = body.refresh_token;
  state.expires = Date.now() + body.expires_in * 1000;
  sessionStorage.setItem("rw.token", state.token);
  sessionStorage.setItem("rw.refresh", state.refresh);
  sessionStorage.setItem("rw.expires", String(state.expires));
  scheduleRenew();
}

function scheduleRenew() {
  clearTimeout(renewTimer);
  if (!state.refresh) return;
  const left = state.expires - Date.now();
  const wait = Math.max(0, Math.min(left - RENEW_BEFORE_MS, left / 2));
  renewTimer = setTimeout(() => { renew().catch(() => {}); }, wait);
}

/* Trade the refresh token for new tokens; one renewal at a time (each refresh token works once). */
function renew() {
  if (!renewing) {
    renewing = (async () => {
      const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: state.refresh || "" });
      const response = await fetch(API + "/auth/refresh", { method: "POST", body, headers: terminalHeaders() });
      if (!response.ok) { signOut(t("err.session")); throw new Error("session ended"); }
      keep(await response.json());
    })().finally(() => { renewing = null; });
  }
  return renewing;
}

async function authorised(path, options = {}, retry = true) {
  if (state.refresh && Date.now() > state.expires - 5000) await renew();
  const headers = Object.assign({}, options.headers, state.token ? { Authorization: "Bearer " + state.token } : {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401 && retry && state.refresh) { await renew(); return authorised(path, options, false); }
  if (response.status === 401) { signOut(t("err.session")); throw new Error("unauthorised"); }
  return response;
}

async function api(path, options = {}) {
  const response = await authorised(path, options);
  if (!response.ok) throw new Error(t("err.load") + ": " + response.status);
  return response.json();
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  if (terminalSecret()) form.set("terminal", terminalSecret());
  const response = await fetch(API + "/auth/token", { method: "POST", body: new URLSearchParams(form) });
  if (!response.ok) { $("#login-error").textContent = await refusal(response); return; }
  const body = await response.json();
  state.user = form.get("username") + (body.terminal ? " · " + body.terminal : "");
  sessionStorage.setItem("rw.user", state.user);
  keep(body);
  showBrowser();
}

async function refusal(response) {
  if (response.status === 429) return t("login.locked").replace("{s}", response.headers.get("Retry-After") || "?");
  const detail = await response.json().then((b) => String(b.detail || ""), () => "");
  return detail.includes("terminal") ? t("login.terminal") : t("login.failed");
}

/* Sign out: revoke the session on the server, then forget the tokens. */
async function logOut() {
  if (state.token) {
    try { await authorised(API + "/auth/logout", { method: "POST" }, false); } catch (err) { /* already ended */ }
  }
  signOut();
}

function signOut(message) {
  clearTimeout(renewTimer);
  state.token = null; state.refresh = null; state.expires = 0;
  for (const key of ["rw.token", "rw.refresh", "rw.expires"]) sessionStorage.removeItem(key);
  $("#login").hidden = false; $("#terminal").hidden = false;
  $("#browser").hidden = true; $("#nav").hidden = true; $("#logout").hidden = true;
  $("#player").pause(); $("#detail").hidden = true; state.clip = null;
  $("#who").textContent = "";
  $("#login-error").textContent = message || "";
  document.dispatchEvent(new Event("rw:signed-out"));
}

function showTerminal() {
  const registered = Boolean(terminalSecret());
  $("#terminal-state").textContent = t(registered ? "terminal.registered" : "terminal.none");
  $("#terminal-state").className = "badge " + (registered ? "ok" : "bad");
  $("#terminal-clear").hidden = !registered;
}

function showBrowser() {
  $("#login").hidden = true; $("#terminal").hidden = true; $("#browser").hidden = false; $("#nav").hidden = false; $("#logout").hidden = false;
  $("#who").textContent = state.user || "";
  document.dispatchEvent(new Event("rw:signed-in"));
  load(true);
}

function query() {
  const params = new URLSearchParams();
  const form = new FormData($("#filters"));
  for (const [key, value] of form.entries()) {
    if (!value || $(`#filters [name=${key}]`).closest("label").hidden) continue;
    params.set(key, key === "start" || key === "end" ? new Date(value).toISOString() : value);
  }
  if (state.cursor) params.set("cursor", state.cursor);
  return params.toString();
}

async function load(fresh) {
  if (state.view === "users") return Users.load(fresh);
  if (fresh) { state.cursor = null; $("#table tbody").replaceChildren(); }
  const head = document.createElement("tr");
  for (const [label] of COLUMNS[state.view]) { const th = document.createElement("th"); th.textContent = t(label); head.append(th); }
  $("#table thead").replaceChildren(head);
  const page = state.view === "sites" ? await sitesPage() : await api(`${API}/${state.view}?${query()}`);
  for (const item of page.items) $("#table tbody").append(row(item));
  state.cursor = page.next_cursor;
  clearTimeout(refreshTimer);
  if (state.view === "upload-requests" && page.items.some((r) => PENDING.includes(r.status))) {
    refreshTimer = setTimeout(() => { if (state.view === "upload-requests") load(true); }, 3000);
  }
  $("#more").hidden = !page.next_cursor;
  $("#empty").hidden = $("#table tbody").children.length > 0;
}

function row(item) {
  const tr = document.createElement("tr");
  for (const [, cell] of COLUMNS[state.view]) {
    const td = document.createElement("td");
    const value = cell(item);
    if (value instanceof Node) td.append(value); else td.textContent = value;
    tr.append(td);
  }
  tr.addEventListener("click", () => {
    document.querySelectorAll("tbody tr.selected").forEach((r) => r.classList.remove("selected"));
    tr.classList.add("selected");
    if (state.view === "clips") showClip(item);
    if (state.view === "loading-sessions") showSession(item);
    if (state.view === "upload-requests" && item.clip) showClip(item.clip);
    if (state.view === "sites") showSite(item);
  });
  return tr;
}

function showFacts(facts) {
  $("#facts").replaceChildren(...facts.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = t(k);
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
}

/* A loading session: its facts and the clips covering it; a clip plays when chosen. */
async function showSession(item) {
  ++state.shown;
  state.clip = null;
  const session = await api(`${API}/loading-sessions/${encodeURIComponent(item.id)}`);
  $("#player").hidden = true; $("#download").hidden = true;
  $("#hold-actions").hidden = true; $("#site-detail").hidden = true; $("#detail-error").textContent = "";
  showFacts([["col.container", session.container_no || "—"], ["col.plate", session.vehicle_plate || "—"],
    ["col.seals", session.seal_numbers.join(", ") || "—"], ["fact.start", when(session.started_at)],
    ["fact.end", session.ended_at ? when(session.ended_at) : t("session.open")]]);
  const list = $("#session-clip-list");
  list.replaceChildren(...session.clips.map((clip) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.className = "secondary";
    button.textContent = `${clip.camera} · ${when(clip.start)} · ${seconds(clip.start, clip.end)}`;
    button.addEventListener("click", () => showClip(clip, true));
    li.append(button);
    return li;
  }));
  $("#session-no-clips").hidden = session.clips.length > 0;
  $("#session-clips").hidden = false;
  $("#detail").hidden = false;
}

async function showClip(clip, inSession = false) {
  ++state.shown;
  $("#session-clips").hidden = !inSession;
  $("#site-detail").hidden = true;
  $("#player").hidden = false; $("#download").hidden = false;
  const link = await api(`${API}/clips/${encodeURIComponent(clip.id)}/video-url`);
  $("#player").src = link.url;
  $("#download").href = link.url;
  $("#download").setAttribute("download", clip.name);
  if (inSession) {
    $("#hold-actions").hidden = true;
  } else {
    state.clip = clip;
    $("#detail-error").textContent = "";
    showClipFacts(clip);
  }
  $("#detail").hidden = false;
}

/* A clip's facts, with its retention (regulation Art. 18-19); admins get the hold controls. */
function showClipFacts(clip) {
  showFacts([["fact.name", clip.name], ["fact.start", when(clip.start)], ["fact.end", when(clip.end)],
    ["fact.sha256", clip.sha256], ["fact.events", (clip.event_ids || []).join(", ") || "—"],
    ["fact.received", when(clip.received_at)],
    ["fact.retention", label("retention", clip.retention_class)],
    ["fact.retain_until", clip.retain_until ? when(clip.retain_until) : t("retain.forever")],
    ["fact.hold", clip.hold ? t("hold.on").replace("{r}", () => clip.hold_reason || "—") : t("hold.off")]]);
  $("#hold-actions").hidden = role() !== "admin";
  $("#hold-place").hidden = Boolean(clip.hold);
  $("#hold-release").hidden = !clip.hold;
  $("#hold-evidence").hidden = clip.retention_class === "evidence";
  $("#hold-form").hidden = true;
}

/* Each filter applies to the views its label names in data-views (all views without it). */
function showFilters() {
  document.querySelectorAll("#filters label[data-views]").forEach((el) => {
    el.hidden = !el.dataset.views.split(" ").includes(state.view);
  });
}

/* Ask a site's box for a recorded window of one camera; the list below follows it. */
async function requestWindow(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { camera: form.get("camera"), start: new Date(form.get("start")).toISOString(),
    end: new Date(form.get("end")).toISOString(), reason: form.get("reason") || null };
  if (form.get("device")) body.device = form.get("device"); // else the box heard from last
  const site = encodeURIComponent(form.get("site"));
  const response = await authorised(`${API}/sites/${site}/upload-requests`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) {
    $("#request-error").textContent = t("req.refused") + ": " + (await problem(response));
    return;
  }
  $("#request-error").textContent = "";
  load(true);
}

/* Offer the boxes of the site named in the request form (GET /devices lists the devices of
   every site the user may see); the empty choice asks the box heard from last. */
let devicesTimer = null;
let devicesAsked = 0;
async function loadDevices() {
  const site = $("#request-form [name=site]").value.trim();
  const select = $("#request-form [name=device]");
  const asked = ++devicesAsked;
  let devices = [];
  if (site) {
    try { devices = (await api(`${API}/devices`)).filter((d) => d.site === site); } catch (err) { devices = []; }
  }
  if (asked !== devicesAsked) return; // the site changed meanwhile
  const chosen = select.value;
  select.replaceChildren(select.options[0], ...devices.map((d) => {
    const option = document.createElement("option");
    option.value = d.device;
    option.textContent = `${d.device} · ${label("device", d.status)}` + (d.last_seen ? ` · ${when(d.last_seen)}` : "");
    return option;
  }));
  select.value = devices.some((d) => d.device === chosen) ? chosen : "";
}

function switchView(view, reload = true) {
  state.view = view;
  ++state.shown; state.clip = null;
  $("#request-form").hidden = view !== "upload-requests";
  if (view === "upload-requests") loadDevices();
  document.querySelectorAll("nav .tab").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  showFilters();
  Users.toggle(view);
  showTreeForms(view);
  $("#detail").hidden = true;
  if (reload) load(true);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#lang").value = LANG;
  $("#lang").addEventListener("change", (e) => {
    LANG = e.target.value; localStorage.setItem("rw.lang", LANG); applyStrings(); showTerminal();
    if (!$("#browser").hidden) load(true);
    if (!$("#request-form").hidden) loadDevices();
  });
  applyStrings();
  showFilters();
  $("#login").addEventListener("submit", signIn);
  $("#logout").addEventListener("click", () => logOut());
  $("#terminal").addEventListener("submit", (e) => {
    e.preventDefault();
    const secret = $("#terminal-secret").value.trim();
    if (secret) localStorage.setItem("rw.terminal", secret);
    $("#terminal-secret").value = "";
    showTerminal();
  });
  $("#terminal-clear").addEventListener("click", () => { localStorage.removeItem("rw.terminal"); showTerminal(); });
  showTerminal();
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); load(true); });
  $("#request-form").addEventListener("submit", requestWindow);
  const siteField = $("#request-form [name=site]");
  siteField.addEventListener("input", () => { clearTimeout(devicesTimer); devicesTimer = setTimeout(loadDevices, 300); });
  siteField.addEventListener("change", () => { clearTimeout(devicesTimer); loadDevices(); });
  $("#hold-place").addEventListener("click", () => askReason("place"));
  $("#hold-release").addEventListener("click", () => askReason("release"));
  $("#hold-evidence").addEventListener("click", () => askReason("evidence"));
  $("#hold-cancel").addEventListener("click", () => { $("#hold-form").hidden = true; $("#detail-error").textContent = ""; });
  $("#hold-form").addEventListener("submit", changeHold);
  $("#more").addEventListener("click", () => load(false));
  document.querySelectorAll("nav .tab").forEach((b) => b.addEventListener("click", () => switchView(b.dataset.view)));
  if (state.token) { scheduleRenew(); showBrowser(); }
});
