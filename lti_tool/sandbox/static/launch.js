// Submits the page's login or id_token form, as platforms do, once the
// platform-storage frame (if any) can answer the tool.
(function () {
  "use strict";

  const form = document.querySelector("form[data-auto-submit], form#lti-login");
  if (!form) {
    return;
  }

  if (!form.hasAttribute("data-auto-submit")) {
    // A new-window launch: submitting needs a click, or popup blockers stop it.
    // The message hint inside is single-use, so one click is all it can take.
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        document.getElementById("open-window").disabled = true;
        document.getElementById("used-note").hidden = false;
      }, 0);
    });
    return;
  }

  let submitted = false;
  function submitOnce() {
    if (!submitted) {
      submitted = true;
      form.submit();
    }
  }

  const frameName = form.dataset.waitFor;
  const frame = frameName && document.querySelector("iframe[name='" + frameName + "']");
  if (!frame || isLoaded(frame)) {
    submitOnce();
    return;
  }
  frame.addEventListener("load", submitOnce);
  // Never leave the tool blank if the storage frame fails to load.
  window.setTimeout(submitOnce, 3000);

  function isLoaded(iframe) {
    try {
      const doc = iframe.contentDocument;
      return doc !== null && doc.readyState === "complete" && doc.URL !== "about:blank";
    } catch (error) {
      return false;
    }
  }
})();

// Like Canvas and Moodle, grow the tool's frame when it asks (lti.frameResize),
// so the course page scrolls instead of a scrollbar inside the frame.
(function () {
  "use strict";

  const frame = document.querySelector("iframe.tool");
  if (!frame) {
    return;
  }
  window.addEventListener("message", function (event) {
    const data = event.data || {};
    if (event.source !== frame.contentWindow || data.subject !== "lti.frameResize") {
      return;
    }
    const height = Number(data.height);
    if (Number.isFinite(height) && height > 0 && height < 20000) {
      frame.style.height = Math.ceil(height) + "px";
    }
  });
})();
