/* The change-password card, for every signed-in user (PUT /auth/password): the API checks the
   current password (a wrong one counts towards the lockout) and the new one, and ends the
   user's other sessions. Uses the globals of i18n.js (t) and app.js (API, $, authorised,
   problem); opened from the header, closed on sign-out (rw:signed-in / rw:signed-out). */
"use strict";
(() => {
  function say(error, done) {
    $("#password-error").textContent = error;
    $("#password-done").textContent = done;
  }

  function open() {
    $("#password-form").reset();
    say("", "");
    $("#password-form").hidden = false;
    $("#password-form [name=current_password]").focus();
  }

  function close() {
    $("#password-form").reset();
    say("", "");
    $("#password-form").hidden = true;
  }

  async function change(event) {
    event.preventDefault();
    const form = new FormData($("#password-form"));
    const body = { current_password: form.get("current_password"), new_password: form.get("new_password") };
    if (body.new_password !== form.get("repeat")) { say(t("pw.mismatch"), ""); return; }
    const submit = $("#password-form button[type=submit]");
    submit.disabled = true;
    say("", "");
    try {
      const response = await authorised(API + "/auth/password", {
        method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (response.ok) {
        $("#password-form").reset();
        say("", t("pw.done"));
      } else if (response.status === 429) {
        say(t("login.locked").replace("{s}", response.headers.get("Retry-After") || "?"), "");
      } else {
        say(t("pw.refused") + ": " + (await problem(response)), "");
      }
    } catch (err) {
      /* the session ended meanwhile: the sign-in form says so */
    } finally {
      submit.disabled = false;
    }
  }

  document.addEventListener("rw:signed-in", () => { $("#password-open").hidden = false; });
  document.addEventListener("rw:signed-out", () => { $("#password-open").hidden = true; close(); });
  document.addEventListener("DOMContentLoaded", () => {
    $("#password-open").addEventListener("click", () => ($("#password-form").hidden ? open() : close()));
    $("#password-close").addEventListener("click", close);
    $("#password-form").addEventListener("submit", change);
  });
})();
