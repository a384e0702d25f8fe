// Charts from each element's data-chart option; the language menu submits its form; no inline script.
"use strict";

function drawCharts(root) {
  if (!window.echarts) return;
  root.querySelectorAll("[data-chart]").forEach(function (el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var chart = echarts.init(el, null, { renderer: "svg" });
    var option = JSON.parse(el.dataset.chart);
    option.animation = false;
    option.grid = option.grid || { left: 60, right: 20, top: 40, bottom: 30 };
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts(document);
  document.querySelectorAll("[data-submit-on-change]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
});
document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });
// A refusal (4xx) or an unavailable service (5xx) comes back with its explanation: show it where
// the answer goes. A 401 carries HX-Redirect to the sign-in instead.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status >= 400 && status !== 401) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
