// LTI client-side postMessage storage: keeps a secret with the platform when the
// browser will not keep our cookie inside the course frame.
"use strict";

(function () {
  const RESPONSE_TIMEOUT_MS = 2000;

  // In an iframe the platform is our parent; in a window the platform opened
  // (document_target "window"), it is our opener.
  function platformWindow() {
    if (window.parent !== window) return window.parent;
    return window.opener || null;
  }

  function targetWindow(frameName) {
    const platform = platformWindow();
    if (!platform || !frameName || frameName === "_parent") return platform;
    try {
      return platform.frames[frameName] || platform;
    } catch (error) {
      return platform;
    }
  }

  // Send one message and wait for its answer, accepting both the lti.* and the
  // older org.imsglobal.lti.* subject names.
  function ask(target, origin, subject, fields) {
    return new Promise(function (resolve, reject) {
      if (!target) {
        reject(new Error("no platform window"));
        return;
      }
      const messageId = "m-" + Math.random().toString(36).slice(2) + Date.now();
      const timer = setTimeout(function () {
        window.removeEventListener("message", onMessage);
        reject(new Error("timeout"));
      }, RESPONSE_TIMEOUT_MS);

      function onMessage(event) {
        const data = event.data || {};
        if (event.origin !== origin && origin !== "*") return;
        if (data.message_id !== messageId) return;
        clearTimeout(timer);
        window.removeEventListener("message", onMessage);
        if (data.error) reject(new Error(data.error.code || "error"));
        else resolve(data);
      }

      window.addEventListener("message", onMessage);
      target.postMessage(
        Object.assign({ subject: subject, message_id: messageId }, fields),
        origin
      );
    });
  }

  // Ask the platform which frame answers storage messages; fall back to the
  // frame named at login when the platform does not answer lti.capabilities.
  function storageFrame(frameName, origin) {
    return ask(platformWindow(), origin, "lti.capabilities", {})
      .then(function (answer) {
        const supported = answer.supported_messages || [];
        const put = supported.find(function (m) {
          return /(^|\.)lti\.put_data$/.test(m.subject);
        });
        return targetWindow(put && put.frame ? put.frame : frameName);
      })
      .catch(function () {
        return targetWindow(frameName);
      });
  }

  window.ltiStorage = {
    put: function (frameName, origin, key, value) {
      return storageFrame(frameName, origin).then(function (target) {
        return ask(target, origin, "lti.put_data", { key: key, value: value });
      });
    },
    get: function (frameName, origin, key) {
      return storageFrame(frameName, origin).then(function (target) {
        return ask(target, origin, "lti.get_data", { key: key });
      }).then(function (answer) {
        return answer.value;
      });
    },
  };
})();
