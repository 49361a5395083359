// Live Activity: history over HTTP, then the strategy's websocket (ws/strategies/<id>/).
// Every line and action carries (execution id, seq); one already shown is never shown again, so a
// reconnect (the server closes with 4012 when its channel layer restarts) reloads history and follows
// on without gaps or repeats. The log box has a fixed height: lines stream in without moving the page.
(function () {
  "use strict";
  var KEEP = 500;  // lines kept on screen

  function follow(panel) {
    var id = panel.dataset.liveStrategy;
    var log = panel.querySelector(".live-log");
    var feed = panel.querySelector(".live-feed");
    var state = panel.querySelector(".live-state");
    var conn = panel.querySelector(".conn");
    var connText = panel.querySelector(".conn-text");
    var seenLines = {}, seenActions = {}, statuses = {};
    var levelFilter = panel.querySelector("[data-log-level]");
    var searchFilter = panel.querySelector("[data-log-search]");

    // The level and search filters hide lines, never drop them: clearing a filter shows everything again.
    function passesFilter(item) {
      if (!item.dataset.seq) return true;  // a run's header line
      var level = levelFilter ? levelFilter.value : "";
      var text = searchFilter ? searchFilter.value.trim().toLowerCase() : "";
      return (!level || item.dataset.level === level) &&
        (!text || item.textContent.toLowerCase().indexOf(text) >= 0);
    }
    function refilter() {
      Array.prototype.forEach.call(log.children, function (item) { item.hidden = !passesFilter(item); });
    }
    if (levelFilter) levelFilter.addEventListener("change", refilter);
    if (searchFilter) searchFilter.addEventListener("input", refilter);
    var delay = 1000;

    function setConn(name, text) { conn.dataset.conn = name; connText.textContent = text; }

    function stamp(iso) {
      var node = document.createElement("time");
      node.setAttribute("datetime", iso);
      node.dataset.local = "clock";
      node.textContent = iso.slice(11, 19);
      return node;
    }

    // The server names markets in place of token ids (`text`), the whole ids kept for the tooltip (`title`).
    function shown(item, row) {
      var words = document.createElement("span");
      words.textContent = row.text || row.message;
      if (row.title) words.title = row.title;
      item.appendChild(document.createTextNode(" "));
      item.appendChild(words);
    }

    function atBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 24; }

    function addLine(run, line) {
      if (line.seq <= (seenLines[run.id] || 0)) return;
      seenLines[run.id] = line.seq;
      var follow = atBottom();
      var item = document.createElement("li");
      item.className = "level-" + line.level;
      item.dataset.execution = run.id;
      item.dataset.seq = line.seq;
      item.dataset.level = line.level;
      item.appendChild(stamp(line.ts));
      shown(item, line);
      item.hidden = !passesFilter(item);
      log.appendChild(item);
      if (window.StrategyHub) window.StrategyHub.localise(item);
      while (log.children.length > KEEP) log.removeChild(log.firstChild);
      if (follow) log.scrollTop = log.scrollHeight;
      panel.classList.add("has-lines");
    }

    function addAction(run, action) {
      if (action.seq <= (seenActions[run.id] || 0)) return;
      seenActions[run.id] = action.seq;
      var item = document.createElement("li");
      item.className = "action kind-" + action.kind;
      item.appendChild(stamp(action.ts));
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = action.kind.replace(/_/g, " ");
      item.appendChild(document.createTextNode(" "));
      item.appendChild(kind);
      shown(item, action);
      feed.insertBefore(item, feed.firstChild);
      if (window.StrategyHub) window.StrategyHub.localise(item);
      while (feed.children.length > 100) feed.removeChild(feed.lastChild);
      panel.classList.add("has-actions");
    }

    function apply(event, live) {
      var run = event.execution;
      if (!run) return;  // a backtest's progress: the Backtests tab follows it
      if (!seenLines[run.id] && event.logs.length) {
        var head = document.createElement("li");
        head.className = "run-head";
        head.textContent = "── run " + run.id + " (" + run.trigger.replace("_", " ") + ") ──";
        log.appendChild(head);
      }
      event.logs.forEach(function (line) { addLine(run, line); });
      event.actions.forEach(function (action) { addAction(run, action); });
      var finished = ["succeeded", "failed", "timed_out", "skipped"].indexOf(run.status) >= 0;
      state.textContent = "run " + run.id + ": " + run.status.replace("_", " ") +
        (run.error ? " (" + run.error.split("\n")[0] + ")" : "");
      state.className = "live-state status-run-" + run.status;
      if (live && finished && statuses[run.id] !== run.status && window.htmx) {
        document.body.dispatchEvent(new CustomEvent("run-finished"));  // re-read the status strip
      }
      statuses[run.id] = run.status;
    }

    function history() {
      return fetch("/strategies/" + id + "/activity.json", {credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : {executions: []}; })
        .then(function (body) {
          body.executions.forEach(function (event) { apply(event, false); });
          var empty = panel.querySelector(".live-empty");
          if (body.executions.length && !panel.classList.contains("has-lines") && empty) {
            empty.textContent = "The last runs wrote no log lines.";  // runs from before every run had system lines
          }
        })
        .catch(function () {});
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + "/ws/strategies/" + id + "/");
      socket.onopen = function () { delay = 1000; setConn("live", "live"); history(); };
      socket.onmessage = function (message) { apply(JSON.parse(message.data), true); };
      socket.onclose = function (closed) {
        if (closed.code === 4403) { setConn("closed", "not allowed"); return; }  // not yours: do not retry
        setConn("reconnecting", "reconnecting in " + Math.round(delay / 1000) + " s…");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }

    connect();
  }

  document.querySelectorAll("[data-live-strategy]").forEach(follow);
})();
