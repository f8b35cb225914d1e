// The launch page when no cookie came back: fetch the browser secret from the
// platform's storage and finish the launch with it.
"use strict";

(function () {
  const form = document.getElementById("lti-storage-launch");
  const data = form.dataset;

  window.ltiStorage
    .get(data.storageTarget, data.platformOrigin, data.storageKey)
    .then(function (secret) {
      form.elements.browser_secret.value = secret || "";
      form.submit();
    })
    .catch(function () {
      document.getElementById("lti-waiting").hidden = true;
      document.getElementById("lti-storage-failed").hidden = false;
    });
})();
