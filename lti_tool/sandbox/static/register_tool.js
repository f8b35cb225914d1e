// The platform's half of the end of LTI Dynamic Registration: when the tool in
// the frame posts org.imsglobal.lti.close, close the "dialog" (remove the frame).
(function () {
  "use strict";

  const frame = document.querySelector("iframe[data-tool-origin]");
  if (!frame) {
    return;
  }
  const toolOrigin = frame.dataset.toolOrigin;

  window.addEventListener("message", function (event) {
    // Only the tool's own frame may close it.
    if (event.origin !== toolOrigin || event.source !== frame.contentWindow) {
      return;
    }
    const data = event.data || {};
    if (data.subject !== "org.imsglobal.lti.close") {
      return;
    }
    frame.remove();
    document.getElementById("registration-done").hidden = false;
  });
})();
