// Ask the LMS to size its frame to our content (lti.frameResize).
"use strict";

(function () {
  function announceHeight() {
    const height = document.documentElement.scrollHeight;
    if (window.parent !== window) {
      window.parent.postMessage({ subject: "lti.frameResize", height: height }, "*");
    }
  }
  window.addEventListener("load", announceHeight);
  if (window.ResizeObserver) new ResizeObserver(announceHeight).observe(document.body);
})();
