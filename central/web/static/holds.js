/* Legal hold and retention of the clip open in the detail pane (admins; each change asks for
   its reason, kept in the audit log). Uses app.js's state, $, t, API, authorised, problem and
   showClipFacts. */
"use strict";
const HOLD_ACTIONS = {
  place: (reason) => ["hold", "PUT", { reason }],
  release: (reason) => ["hold", "DELETE", { reason }],
  evidence: (reason) => ["retention", "PUT", { retention_class: "evidence", reason }],
};

/* Each change of hold or retention asks for its reason (kept in the audit log). */
function askReason(action) {
  state.holdAction = action;
  $("#hold-form-title").textContent = t("hold.why." + action);
  $("#hold-form [name=reason]").value = "";
  $("#hold-form").hidden = false;
  $("#detail-error").textContent = "";
  $("#hold-form [name=reason]").focus();
}

async function changeHold(event) {
  event.preventDefault();
  const clip = state.clip;
  const reason = $("#hold-form [name=reason]").value.trim();
  if (!clip || !HOLD_ACTIONS[state.holdAction]) return;
  if (!reason) { $("#detail-error").textContent = t("hold.noreason"); return; }
  const [path, method, body] = HOLD_ACTIONS[state.holdAction](reason);
  const submit = $("#hold-form button[type=submit]");
  submit.disabled = true;
  try {
    const response = await authorised(`${API}/clips/${encodeURIComponent(clip.id)}/${path}`, {
      method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (state.clip !== clip) return;
    if (!response.ok) { $("#detail-error").textContent = t("hold.refused") + ": " + (await problem(response)); return; }
    Object.assign(clip, await response.json()); // the list's row shows the new state when opened again
    $("#detail-error").textContent = "";
    showClipFacts(clip);
  } finally {
    submit.disabled = false;
  }
}
