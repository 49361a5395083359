// The dashboard's small behaviours: timestamps in the viewer's zone (UTC kept on hover), countdowns to the
// next run, copy buttons. Re-applied to whatever htmx swaps in.
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  function localise(root) {
    root.querySelectorAll("time[data-local]").forEach(function (node) {
      if (node.dataset.done) return;
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when)) return;
      var style = node.dataset.local;
      var clock = pad(when.getHours()) + ":" + pad(when.getMinutes());
      var seconds = clock + ":" + pad(when.getSeconds());
      var day = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate());
      node.textContent = style === "clock" ? seconds : style === "time" ? clock : day + " " + seconds;
      node.title = when.toISOString().replace("T", " ").slice(0, 19) + " UTC";
      node.dataset.done = "1";
    });
  }

  function left(seconds) {
    if (seconds <= 0) return "due now";
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + " h " + pad(m) + " min" : m ? m + " min " + pad(s) + " s" : s + " s");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-next]").forEach(function (node) {
      var next = new Date(node.dataset.next).getTime();
      var interval = parseInt(node.dataset.interval, 10) * 1000;
      // The scheduler advances a slot by one interval, no catch-up: follow it until the page is refreshed.
      while (interval > 0 && next + 5000 < now) next += interval;
      var text = left(Math.round((next - now) / 1000));
      if (node.firstChild && node.firstChild.nodeType === 3 && node.childNodes.length === 1 && node.textContent === text) return;
      node.textContent = text;
      node.title = "next run at " + new Date(next).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    var note = button.parentNode.querySelector(".copied");
    var done = function () { if (note) note.textContent = "copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(done, function () { select(source); });
    } else {
      select(source);
      try { document.execCommand("copy"); done(); } catch (e) { /* selected: the user copies it */ }
    }
  });

  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  localise(document);
  tick();
  setInterval(tick, 1000);
  document.body.addEventListener("htmx:afterSettle", function (event) { localise(event.target); tick(); });
  window.StrategyHub = {localise: localise};
})();
