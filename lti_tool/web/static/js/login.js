// The login page: keep the browser secret with the platform (when it offers
// storage), or check that our cookie survives in the frame, then continue.
"use strict";

(function () {
  const page = document.getElementById("lti-login");
  const data = page.dataset;

  function proceed() {
    window.location.replace(data.authUrl);
  }

  function offerNewWindow() {
    document.getElementById("lti-waiting").hidden = true;
    document.getElementById("lti-new-window").hidden = false;
  }

  function cookieSurvives() {
    return document.cookie.split(";").some(function (part) {
      return part.trim().indexOf("lti_cookie_probe=") === 0;
    });
  }

  if (data.mode === "storage") {
    window.ltiStorage
      .put(data.storageTarget, data.platformOrigin, data.storageKey, data.browserSecret)
      .then(proceed)
      .catch(function () {
        if (cookieSurvives()) proceed();
        else offerNewWindow();
      });
  } else if (cookieSurvives()) {
    proceed();
  } else {
    offerNewWindow();
  }
})();
