// Measures active study time on an activity page and reports it in heartbeats.
//
// Time counts while the page is visible and the participant interacted in the
// last few minutes, or a video is playing. Heartbeats wait in localStorage until
// the server acknowledges them, so a dropped network or a closed tab loses
// nothing; the server ignores any it has already seen.
"use strict";

(function () {
  const page = document.getElementById("activity");
  if (!page || !page.dataset.heartbeatUrl) return;

  const cfg = page.dataset;
  const INTERVAL_S = parseInt(cfg.interval, 10) || 30;
  const IDLE_AFTER_MS = 3 * 60 * 1000;
  const QUEUE_KEY = "lti_heartbeats";
  const MAX_QUEUE = 500;
  // The URL carries the launch session (ls=): sendBeacon cannot set headers.
  const url = cfg.heartbeatUrl;
  const video = document.getElementById("lesson-video");

  let lastInteraction = Date.now();
  let activeSeconds = 0;
  let sequence = 0;
  let sending = false;

  ["mousemove", "keydown", "scroll", "touchstart", "click"].forEach(function (name) {
    window.addEventListener(name, function () { lastInteraction = Date.now(); },
      { passive: true });
  });

  function isActive() {
    if (document.visibilityState !== "visible") return false;
    if (video && !video.paused && !video.ended) return true;
    return Date.now() - lastInteraction < IDLE_AFTER_MS;
  }

  function playedRanges() {
    if (!video || !video.played) return [];
    const ranges = [];
    for (let i = 0; i < video.played.length; i += 1) {
      ranges.push([video.played.start(i), video.played.end(i)]);
    }
    return ranges;
  }

  let memoryQueue = [];

  // Storage can be denied (a third-party frame with cookies blocked): the
  // in-memory queue then keeps the beats for as long as the page is open.
  function readQueue() {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); }
    catch (error) { return memoryQueue; }
  }

  function writeQueue(queue) {
    try { localStorage.setItem(QUEUE_KEY, JSON.stringify(queue.slice(-MAX_QUEUE))); }
    catch (error) { /* storage full or blocked: the in-memory copy still sends */ }
  }

  memoryQueue = readQueue();

  function enqueue() {
    if (activeSeconds <= 0) return;
    const beat = {
      program: cfg.program, activity: cfg.activity, page: cfg.page,
      seq: sequence, active: activeSeconds, at: Date.now(),
    };
    if (video && video.duration) {
      beat.played = playedRanges();
      beat.duration = video.duration;
    }
    sequence += 1;
    activeSeconds = 0;
    memoryQueue = readQueue().concat([beat]);
    writeQueue(memoryQueue);
  }

  function byProgram(queue) {
    return queue.filter(function (beat) { return beat.program === cfg.program; });
  }

  function flush() {
    const queue = byProgram(readQueue().length ? readQueue() : memoryQueue);
    if (sending || !queue.length || !navigator.onLine) return;
    sending = true;
    const batch = queue.slice(0, 200);
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ program: cfg.program, beats: batch }),
      credentials: "omit",
    }).then(function (response) {
      // 4xx means the server refused these for good (e.g. session over): drop
      // them rather than retrying forever; 5xx and network errors keep them.
      if (response.ok || (response.status >= 400 && response.status < 500)) {
        const sent = batch.map(function (b) { return b.page + ":" + b.seq; });
        memoryQueue = readQueue().filter(function (b) {
          return sent.indexOf(b.page + ":" + b.seq) === -1;
        });
        writeQueue(memoryQueue);
        page.dispatchEvent(new CustomEvent("heartbeat-sent", { detail: response.status }));
      }
    }).catch(function () { /* offline: try again later */ })
      .finally(function () { sending = false; });
  }

  setInterval(function () {
    if (isActive()) activeSeconds += 1;
  }, 1000);

  setInterval(function () { enqueue(); flush(); }, INTERVAL_S * 1000);
  window.addEventListener("online", flush);

  // Closing the tab or switching away: hand what is pending to sendBeacon.
  function sendPending() {
    enqueue();
    const queue = byProgram(readQueue());
    if (!queue.length || !navigator.sendBeacon) return;
    const body = JSON.stringify({ program: cfg.program, beats: queue.slice(0, 200) });
    navigator.sendBeacon(url, new Blob([body], { type: "application/json" }));
  }
  window.addEventListener("pagehide", sendPending);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") sendPending();
  });

  flush();
})();
