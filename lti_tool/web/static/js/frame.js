// Ask the LMS to size its frame to our content (lti.frameResize).
"use strict";

(function () {
  // The body's own height, not the document's scroll height: that is never less
  // than the frame's current height, so a short page after a long one would
  // leave the frame tall and mostly blank.
  function contentHeight() {
    const body = document.body;
    const style = window.getComputedStyle(body);
    const margins = parseFloat(style.marginTop) + parseFloat(style.marginBottom);
    return Math.ceil(body.getBoundingClientRect().height + margins);
  }

  function announceHeight() {
    if (window.parent !== window) {
      window.parent.postMessage(
        { subject: "lti.frameResize", height: contentHeight() }, "*"
      );
    }
  }
  window.addEventListener("load", announceHeight);
  if (window.ResizeObserver) new ResizeObserver(announceHeight).observe(document.body);
})();
