// Backtests tab: a queued or running backtest follows the strategy's websocket (ws/strategies/<id>/),
// whose backtest events carry its progress; once it finishes the page reloads to show the results.
// A finished one draws its equity curve and price chart (entries and exits marked) with Lightweight Charts.
(function () {
  "use strict";
  var box = document.querySelector("[data-backtest]");
  if (!box) return;
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;

  function chart(node, money) {
    var options = {
      autoSize: true,
      layout: {background: {color: "transparent"}, textColor: dark ? "#c9d1d9" : "#24292f"},
      grid: {vertLines: {color: dark ? "#21262d" : "#eaeef2"}, horzLines: {color: dark ? "#21262d" : "#eaeef2"}},
      timeScale: {timeVisible: true, secondsVisible: false},
    };
    if (money) options.localization = {priceFormatter: function (value) { return "$" + value.toFixed(2); }};
    return LightweightCharts.createChart(node, options);
  }

  function draw() {
    var script = document.getElementById("backtest-data");
    if (!script || !window.LightweightCharts) return;
    var data = JSON.parse(script.textContent);
    var equityBox = box.querySelector("[data-chart='backtest-equity']");
    if (equityBox && data.equity.length) {
      var equity = chart(equityBox, true);
      equity.addSeries(LightweightCharts.BaselineSeries, {baseValue: {type: "price", price: data.equity[0].value}})
        .setData(data.equity);
      equity.timeScale().fitContent();
      equityBox.dataset.drawn = "1";
    }
    var priceBox = box.querySelector("[data-chart='backtest-price']");
    if (priceBox && data.price.length) {
      var price = chart(priceBox, false);
      var candles = price.addSeries(LightweightCharts.CandlestickSeries, {});
      candles.setData(data.price);
      LightweightCharts.createSeriesMarkers(candles, data.markers);
      price.timeScale().fitContent();
      priceBox.dataset.drawn = "1";
    }
  }

  function follow() {
    var id = box.dataset.backtest;
    var conn = box.querySelector(".conn");
    var connText = box.querySelector(".conn-text");
    var bar = box.querySelector(".progress-bar");
    var meter = box.querySelector("[data-backtest-progress]");
    var text = box.querySelector("[data-backtest-progress-text]");
    var badge = box.querySelector("[data-backtest-status]");
    var delay = 1000;

    function setConn(name, label) { conn.dataset.conn = name; connText.textContent = label; }

    function apply(event) {
      var backtest = event.backtest;
      if (!backtest || backtest.id !== id) return;  // runs and other backtests share the socket
      box.dataset.status = backtest.status;
      badge.textContent = backtest.status;
      if (bar) bar.style.width = backtest.progress + "%";
      if (meter) meter.setAttribute("aria-valuenow", Math.round(backtest.progress));
      if (text) {
        text.textContent = backtest.progress.toFixed(1) + " % (" + backtest.steps + " steps" +
          (backtest.eta_seconds != null ? ", about " + Math.ceil(backtest.eta_seconds) + " s left" : "") + ")";
      }
      if (["succeeded", "failed", "cancelled"].indexOf(backtest.status) >= 0) location.reload();
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + "/ws/strategies/" + box.dataset.backtestStrategy + "/");
      socket.onopen = function () {
        delay = 1000;
        setConn("live", "live");
        // It may have finished before the socket opened: the page's own status then is stale.
        fetch(location.href, {credentials: "same-origin"}).then(function (response) { return response.text(); })
          .then(function (html) {
            if (html.indexOf('data-status="' + box.dataset.status + '"') < 0) location.reload();
          }).catch(function () {});
      };
      socket.onmessage = function (message) { apply(JSON.parse(message.data)); };
      socket.onclose = function (closed) {
        if (closed.code === 4403) { setConn("closed", "not allowed"); return; }
        setConn("reconnecting", "reconnecting in " + Math.round(delay / 1000) + " s…");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
  }

  if (box.dataset.status === "queued" || box.dataset.status === "running") follow();
  else {
    box.querySelector(".conn").hidden = true;
    draw();
  }
})();
