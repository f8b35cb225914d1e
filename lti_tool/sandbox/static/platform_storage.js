// LTI platform storage (the client-side postMessage specs): answers
// lti.capabilities, lti.put_data and lti.get_data, with or without the
// org.imsglobal. prefix. The launch page holds the values in memory; the
// hidden post_message_forwarding frame answers from the same store, the way
// Canvas splits the work between its page and its forwarding frame.
(function () {
  "use strict";

  const PREFIXES = ["org.imsglobal.lti.", "lti."];
  // Canvas's limits per tool: 500 keys and 4096 characters of keys plus values.
  const MAX_KEYS = 500;
  const MAX_CHARS = 4096;

  function splitSubject(subject) {
    for (const prefix of PREFIXES) {
      if (subject.startsWith(prefix)) {
        return { prefix: prefix, action: subject.slice(prefix.length) };
      }
    }
    return null;
  }

  function withError(reply, code, message) {
    reply.error = { code: code, message: message };
    return reply;
  }

  function createStorage(toolOrigin, frameName) {
    // Values of each tool origin, so two tools could never read each other's.
    const byOrigin = new Map();

    function valuesOf(origin) {
      if (!byOrigin.has(origin)) {
        byOrigin.set(origin, new Map());
      }
      return byOrigin.get(origin);
    }

    function charsAfterPut(values, key, value) {
      let total = key.length + value.length;
      values.forEach(function (storedValue, storedKey) {
        if (storedKey !== key) {
          total += storedKey.length + storedValue.length;
        }
      });
      return total;
    }

    function missingField(data, reply, fields) {
      for (const field of fields) {
        if (data[field] === undefined || data[field] === "") {
          const text = "The '" + field + "' field is required.";
          return withError(reply, "bad_request", text);
        }
      }
      if (typeof data.key !== "string") {
        return withError(reply, "bad_request", "The 'key' field must be a string.");
      }
      return null;
    }

    function putData(data, origin, reply) {
      const invalid = missingField(data, reply, ["message_id", "key"]);
      if (invalid) {
        return invalid;
      }
      const values = valuesOf(origin);
      reply.key = data.key;
      if (data.value === null) {
        values.delete(data.key);
        return reply;
      }
      if (typeof data.value !== "string") {
        return withError(reply, "bad_request", "The 'value' field must be a string.");
      }
      if (!values.has(data.key) && values.size >= MAX_KEYS) {
        return withError(reply, "storage_exhaustion", "The tool stored too many keys.");
      }
      if (charsAfterPut(values, data.key, data.value) > MAX_CHARS) {
        return withError(reply, "storage_exhaustion", "The tool stored too much data.");
      }
      values.set(data.key, data.value);
      reply.value = data.value;
      return reply;
    }

    function getData(data, origin, reply) {
      const invalid = missingField(data, reply, ["message_id", "key"]);
      if (invalid) {
        return invalid;
      }
      const values = valuesOf(origin);
      reply.key = data.key;
      reply.value = values.has(data.key) ? values.get(data.key) : null;
      return reply;
    }

    function capabilities(prefix) {
      return [
        { subject: prefix + "capabilities" },
        { subject: prefix + "put_data", frame: frameName },
        { subject: prefix + "get_data", frame: frameName },
      ];
    }

    // Returns the reply to post back, or null for messages that are not ours.
    function handle(data, origin) {
      const isMessage = data !== null && typeof data === "object";
      if (!isMessage || typeof data.subject !== "string") {
        return null;
      }
      const parsed = splitSubject(data.subject);
      // Never answer an answer: two windows would echo each other for ever.
      if (parsed === null || parsed.action.endsWith(".response")) {
        return null;
      }

      const reply = { subject: data.subject + ".response" };
      if (data.message_id !== undefined) {
        reply.message_id = data.message_id;
      }
      if (origin !== toolOrigin) {
        return withError(reply, "wrong_origin", "Only the launched tool may use this.");
      }

      switch (parsed.action) {
        case "capabilities":
          reply.supported_messages = capabilities(parsed.prefix);
          return reply;
        case "put_data":
          return putData(data, origin, reply);
        case "get_data":
          return getData(data, origin, reply);
        default:
          return withError(reply, "unsupported_subject", "The sandbox cannot do that.");
      }
    }

    return { handle: handle };
  }

  function answerWith(findStorage) {
    window.addEventListener("message", function (event) {
      const storage = findStorage();
      // An opaque origin ("null") cannot be addressed, so it gets no answer.
      if (storage === null || !event.source || event.origin === "null") {
        return;
      }
      const reply = storage.handle(event.data, event.origin);
      if (reply !== null) {
        event.source.postMessage(reply, event.origin);
      }
    });
  }

  function parentStorage() {
    try {
      return window.parent.SandboxPlatformStorage || null;
    } catch (error) {
      // Embedded by another origin: answer nothing.
      return null;
    }
  }

  const body = document.body;
  if (body.dataset.role === "forwarding") {
    answerWith(parentStorage);
  } else if (body.dataset.toolOrigin) {
    const storage = createStorage(body.dataset.toolOrigin, body.dataset.storageFrame);
    window.SandboxPlatformStorage = storage;
    answerWith(function () {
      return storage;
    });
  }
})();
