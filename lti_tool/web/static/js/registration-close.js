// The end of LTI Dynamic Registration: tell the LMS to close its dialog with the
// org.imsglobal.lti.close message, once the administrator has read the page.
"use strict";

(function () {
  const button = document.querySelector("[data-lti-close]");
  const platform = window.opener || (window.parent !== window ? window.parent : null);
  if (!button) return;
  if (!platform) {
    // Opened on its own, not from an LMS: there is no dialog to close.
    button.hidden = true;
    document.querySelector("[data-lti-close-note]").hidden = false;
    return;
  }
  button.addEventListener("click", function () {
    // The spec asks for "*": the page does not know the LMS's origin for sure.
    platform.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
  });
})();
