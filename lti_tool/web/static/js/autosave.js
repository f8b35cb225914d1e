// Saves a reflection's draft while the participant writes: every 10 seconds when
// the text changed, and when the text box loses focus. The form itself still
// submits normally; autosave only keeps the working copy safe.
"use strict";

(function () {
  const form = document.getElementById("reflection-form");
  if (!form || !form.dataset.autosaveUrl) return;

  const SAVE_EVERY_MS = 10 * 1000;
  const body = form.querySelector("textarea[name=body]");
  const status = document.getElementById("autosave-status");
  const words = document.getElementById("reflection-words");
  let lastSaved = body.value;
  let saving = false;

  function say(text) {
    if (status) status.textContent = text;
  }

  function countWords() {
    if (!words) return;
    const trimmed = body.value.trim();
    words.textContent = trimmed ? trimmed.split(/\s+/).length : 0;
  }

  function save() {
    const text = body.value;
    if (saving || text === lastSaved) return;
    saving = true;
    const data = new URLSearchParams();
    data.set("ls", form.elements.ls.value);
    data.set("csrf_token", form.elements.csrf_token.value);
    data.set("body", text);
    fetch(form.dataset.autosaveUrl, {
      method: "POST",
      body: data,
      credentials: "omit",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (response.ok) {
          lastSaved = text;
          say("Draft saved " + (answer.saved_at_text || new Date().toLocaleTimeString()));
        } else {
          say(answer.error || "Your draft could not be saved; keep this page open.");
        }
      });
    }).catch(function () {
      say("Offline: your draft will be saved when the connection is back.");
    }).finally(function () { saving = false; });
  }

  body.addEventListener("input", countWords);
  body.addEventListener("blur", save);
  setInterval(save, SAVE_EVERY_MS);
  window.addEventListener("online", save);
})();
