// kiln console: the live build log of an image's page. The server sends
// a "start" event, one message per log line, then "end" with the image's
// final state (or "truncated" / "failed"). A stream cut short (a bound,
// a restart) is reopened by the browser and starts the log over.
"use strict";
(function () {
  var log = document.getElementById("log");
  if (!log || !window.EventSource) return;
  var wasFinal = log.getAttribute("data-final") === "true";
  var source = new EventSource(log.getAttribute("data-src"));
  // Keep the newest line in view while the reader has not scrolled up.
  var atBottom = function () {
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 24;
  };
  var append = function (text) {
    var follow = atBottom();
    log.appendChild(document.createTextNode(text + "\n"));
    if (follow) log.scrollTop = log.scrollHeight;
  };
  source.addEventListener("start", function () {
    log.textContent = "";
  });
  source.onmessage = function (ev) {
    append(ev.data);
  };
  var stop = function (note) {
    source.close();
    if (note) append("[" + note + "]");
    log.setAttribute("data-done", "true");
  };
  source.addEventListener("end", function (ev) {
    stop("");
    var state = document.getElementById("image-state");
    if (state && ev.data) {
      state.textContent = ev.data;
      state.className = "state state-" + ev.data;
    }
    // The build finished while the page was open: reload it for the
    // steps, outputs and packages the final state brings.
    if (!wasFinal) window.location.reload();
  });
  source.addEventListener("truncated", function (ev) {
    stop(ev.data);
  });
  source.addEventListener("failed", function (ev) {
    stop(ev.data);
  });
})();
