/* Inspector UI: sign in, search clips and events, play and download clips. No build step. */
"use strict";
const API = "/api/v1";
const state = { view: "clips", cursor: null, token: sessionStorage.getItem("rw.token"), user: sessionStorage.getItem("rw.user") };
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
};

function when(iso) { return iso ? new Date(iso).toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB") : "—"; }
function seconds(a, b) { return ((new Date(b) - new Date(a)) / 1000).toFixed(1) + " s"; }
function megabytes(n) { return (n / 1048576).toFixed(2) + " MB"; }
function badge(ok, yes, no) {
  const span = document.createElement("span");
  span.className = "badge " + (ok ? "ok" : "bad");
  span.textContent = t(ok ? yes : no);
  return span;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers, state.token ? { Authorization: "Bearer " + state.token } : {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) { signOut(t("err.session")); throw new Error("unauthorised"); }
  if (!response.ok) throw new Error(t("err.load") + ": " + response.status);
  return response.json();
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch(API + "/auth/token", { method: "POST", body: new URLSearchParams(form) });
  if (!response.ok) { $("#login-error").textContent = t("login.failed"); return; }
  const body = await response.json();
  state.token = body.access_token;
  state.user = form.get("username");
  sessionStorage.setItem("rw.token", state.token);
  sessionStorage.setItem("rw.user", state.user);
  showBrowser();
}

function signOut(message) {
  state.token = null;
  sessionStorage.removeItem("rw.token");
  $("#login").hidden = false; $("#browser").hidden = true; $("#nav").hidden = true; $("#logout").hidden = true;
  $("#who").textContent = "";
  $("#login-error").textContent = message || "";
}

function showBrowser() {
  $("#login").hidden = true; $("#browser").hidden = false; $("#nav").hidden = false; $("#logout").hidden = false;
  $("#who").textContent = state.user || "";
  load(true);
}

function query() {
  const params = new URLSearchParams();
  const form = new FormData($("#filters"));
  for (const [key, value] of form.entries()) {
    if (!value || (key === "kind" && state.view !== "events")) continue;
    params.set(key, key === "start" || key === "end" ? new Date(value).toISOString() : value);
  }
  if (state.cursor) params.set("cursor", state.cursor);
  return params.toString();
}

async function load(fresh) {
  if (fresh) { state.cursor = null; $("#table tbody").replaceChildren(); }
  const head = document.createElement("tr");
  for (const [label] of COLUMNS[state.view]) { const th = document.createElement("th"); th.textContent = t(label); head.append(th); }
  $("#table thead").replaceChildren(head);
  const page = await api(`${API}/${state.view}?${query()}`);
  for (const item of page.items) $("#table tbody").append(row(item));
  state.cursor = page.next_cursor;
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
  });
  return tr;
}

async function showClip(clip) {
  const link = await api(`${API}/clips/${encodeURIComponent(clip.id)}/video-url`);
  $("#player").src = link.url;
  $("#download").href = link.url;
  $("#download").setAttribute("download", clip.name);
  const facts = [["fact.name", clip.name], ["fact.start", when(clip.start)], ["fact.end", when(clip.end)],
    ["fact.sha256", clip.sha256], ["fact.events", (clip.event_ids || []).join(", ") || "—"],
    ["fact.received", when(clip.received_at)]];
  $("#facts").replaceChildren(...facts.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = t(k);
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
  $("#detail").hidden = false;
}

function switchView(view) {
  state.view = view;
  document.querySelectorAll("nav .tab").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  document.querySelectorAll(".events-only").forEach((el) => { el.hidden = view !== "events"; });
  $("#detail").hidden = true;
  load(true);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#lang").value = LANG;
  $("#lang").addEventListener("change", (e) => {
    LANG = e.target.value; localStorage.setItem("rw.lang", LANG); applyStrings();
    if (!$("#browser").hidden) load(true);
  });
  applyStrings();
  document.querySelectorAll(".events-only").forEach((el) => { el.hidden = true; });
  $("#login").addEventListener("submit", signIn);
  $("#logout").addEventListener("click", () => signOut());
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); load(true); });
  $("#more").addEventListener("click", () => load(false));
  document.querySelectorAll("nav .tab").forEach((b) => b.addEventListener("click", () => switchView(b.dataset.view)));
  if (state.token) showBrowser();
});
