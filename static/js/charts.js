// Equity curves of the Overview tab, drawn with TradingView Lightweight Charts (vendor/, unmodified).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("equity-data").textContent);
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.querySelectorAll("[data-chart^='equity-']").forEach(function (box) {
    var book = box.dataset.chart.slice("equity-".length);
    var points = data[book] || [];
    var chart = LightweightCharts.createChart(box, {
      autoSize: true,
      layout: {background: {color: "transparent"}, textColor: dark ? "#c9d1d9" : "#24292f"},
      grid: {vertLines: {color: dark ? "#21262d" : "#eaeef2"}, horzLines: {color: dark ? "#21262d" : "#eaeef2"}},
      timeScale: {timeVisible: true, secondsVisible: false},
      localization: {priceFormatter: function (value) { return "$" + value.toFixed(2); }},
    });
    var series = chart.addSeries(LightweightCharts.BaselineSeries, {
      baseValue: {type: "price", price: points.length ? points[0].value : 0},
    });
    var now = Math.floor(Date.now() / 1000);
    if (points.length === 1 && now > points[0].time) points = points.concat([{time: now, value: points[0].value}]);
    series.setData(points);
    chart.timeScale().fitContent();
    box.dataset.drawn = "1";
  });
})();
