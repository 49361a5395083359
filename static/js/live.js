// Live activity on /strategies: history over HTTP, then the strategy's websocket.
// Every line carries (execution id, seq); a line already shown is never shown again, so a
// reconnect (the server closes with 4012 when its channel layer restarts) reloads history and
// follows on without gaps or repeats.
(function () {
  "use strict";
  var KEEP = 60;  // lines kept per card

  function follow(panel) {
    var id = panel.dataset.strategyId;
    var list = panel.querySelector("ol");
    var state = panel.querySelector(".live-state");
    var seen = {};  // execution id -> highest seq shown
    var delay = 1000;

    function show(execution, line) {
      var last = seen[execution.id] || 0;
      if (line.seq <= last) return;
      seen[execution.id] = line.seq;
      var item = document.createElement("li");
      item.className = "level-" + line.level;
      item.dataset.execution = execution.id;
      item.dataset.seq = line.seq;
      var time = document.createElement("time");
      time.textContent = line.ts.slice(11, 19);
      item.appendChild(time);
      item.appendChild(document.createTextNode(" " + line.message));
      list.appendChild(item);
      while (list.children.length > KEEP) list.removeChild(list.firstChild);
      panel.scrollTop = panel.scrollHeight;
    }

    function apply(event) {
      event.logs.forEach(function (line) { show(event.execution, line); });
      var run = event.execution;
      state.textContent = "run " + run.id + ": " + run.status + (run.error ? " (" + run.error.split("\n")[0] + ")" : "");
      state.className = "live-state status-" + run.status;
    }

    function history() {
      return fetch("/strategies/" + id + "/activity.json", {credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : {executions: []}; })
        .then(function (body) { body.executions.forEach(apply); })
        .catch(function () {});
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + "/ws/strategies/" + id + "/");
      socket.onopen = function () { delay = 1000; panel.classList.add("connected"); history(); };
      socket.onmessage = function (message) { apply(JSON.parse(message.data)); };
      socket.onclose = function (closed) {
        panel.classList.remove("connected");
        if (closed.code === 4403) return;  // not yours: do not retry
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }

    connect();
  }

  document.querySelectorAll("[data-live-strategy]").forEach(function (panel) {
    panel.dataset.strategyId = panel.dataset.liveStrategy;
    follow(panel);
  });
})();
