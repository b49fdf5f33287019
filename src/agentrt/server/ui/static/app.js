// agentrt dashboard: the live parts. Every page works without this file; it adds the charts
// (uPlot), the live rates and agent events (server-sent events), and keeps htmx polling polite.
(function () {
  "use strict";

  var WINDOW = 900; // seconds of live history shown

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }
  function ms(seconds) {
    return seconds === null || seconds === undefined ? "-" : (seconds * 1000).toFixed(0) + " ms";
  }
  function width(el) {
    return Math.max(200, (el.clientWidth || el.parentNode.clientWidth || 800) - 8);
  }

  // --- the overview's live chart -------------------------------------------------------------
  function liveChart() {
    var el = document.getElementById("live-chart");
    if (!el || !window.uPlot) { return; }
    var latencyEl = document.getElementById("live-latency-chart");
    var data = [[], [], []];
    var latency = [[], [], []];
    var rates = new uPlot({
      width: width(el), height: 220, title: "calls and errors per second",
      scales: { x: { time: true } },
      series: [{}, { label: "calls/s", stroke: "#0a4fb3", width: 2 }, { label: "errors/s", stroke: "#a40e26", width: 2 }],
      axes: [{}, { label: "per second" }]
    }, data, el);
    var lat = new uPlot({
      width: width(latencyEl), height: 200, title: "latency",
      scales: { x: { time: true } },
      series: [{}, { label: "p50 ms", stroke: "#116329", width: 2 }, { label: "p95 ms", stroke: "#8a4b00", width: 2 }],
      axes: [{}, { label: "ms" }]
    }, latency, latencyEl);

    function add(p) {
      data[0].push(p.ts); data[1].push(p.calls_per_s); data[2].push(p.errors_per_s);
      latency[0].push(p.ts);
      latency[1].push(p.p50 === null ? null : p.p50 * 1000);
      latency[2].push(p.p95 === null ? null : p.p95 * 1000);
      while (data[0].length && data[0][0] < p.ts - WINDOW) {
        data.forEach(function (s) { s.shift(); });
        latency.forEach(function (s) { s.shift(); });
      }
    }
    function show(p) {
      text("now-calls", p.calls_per_s.toFixed(2));
      text("now-errors", p.errors_per_s.toFixed(2));
      text("now-cost", p.cost_per_s.toFixed(6));
      text("now-p50", ms(p.p50));
      text("now-p95", ms(p.p95));
      var updated = document.getElementById("live-updated");
      if (updated) {
        updated.dataset.count = String(Number(updated.dataset.count || "0") + 1);
        updated.textContent = new Date(p.ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
      }
    }
    fetch(el.dataset.source, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { points: [] }; })
      .then(function (body) {
        body.points.forEach(add);
        rates.setData(data); lat.setData(latency);
        if (body.points.length) { show(body.points[body.points.length - 1]); }
        var events = new EventSource(el.dataset.events);
        events.addEventListener("point", function (e) {
          var p = JSON.parse(e.data);
          add(p); rates.setData(data); lat.setData(latency); show(p);
        });
      });
  }

  // --- the usage chart -------------------------------------------------------------------------
  function usd(v) {
    return v === null || v === undefined ? "" : v === 0 ? "$0" : "$" + Number(v.toPrecision(3));
  }

  var PALETTE = ["#0a4fb3", "#a40e26", "#116329", "#8a4b00", "#6639ba", "#1b7c83", "#4a5563"];

  function seriesChart(el, x, named, title, unit, format) {
    var series = [{}];
    var data = [x];
    Object.keys(named).forEach(function (name, i) {
      series.push({ label: name + " (" + unit + ")", stroke: PALETTE[i % PALETTE.length], width: 2 });
      data.push(named[name]);
    });
    new uPlot({
      width: width(el), height: 240, title: title,
      scales: { x: { time: true } }, series: series,
      axes: [{}, { label: unit, size: 80, values: function (u, vals) { return vals.map(format); } }]
    }, data, el);
  }

  function usageChart() {
    var el = document.getElementById("usage-chart");
    var source = document.getElementById("usage-data");
    if (!el || !source || !window.uPlot) { return; }
    var chart = JSON.parse(source.textContent);
    seriesChart(el, chart.x, chart.series, "cost per " + chart.granularity, "USD", usd);
    var tokensEl = document.getElementById("usage-tokens-chart");
    if (tokensEl) {
      seriesChart(tokensEl, chart.x, chart.tokens, "tokens per " + chart.granularity, "tokens", function (v) {
        return v === null || v === undefined ? "" : Number(v.toPrecision(3)).toLocaleString("en");
      });
    }
  }

  // --- one agent's events ------------------------------------------------------------------------
  var AGENT_EVENTS = ["status", "state", "result", "error", "restarted", "dropped", "end"];

  function agentEvents() {
    var list = document.getElementById("agent-events");
    if (!list || !list.dataset.events) { return; }
    var status = document.getElementById("agent-events-status");
    var source = new EventSource(list.dataset.events);
    if (status) { status.textContent = "Following the agent's events."; }
    AGENT_EVENTS.forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var item = document.createElement("li");
        item.className = "event event-" + kind;
        item.textContent = new Date().toISOString().slice(11, 19) + " " + kind + " " + e.data;
        list.appendChild(item);
        while (list.children.length > 200) { list.removeChild(list.firstChild); }
        try {
          var data = JSON.parse(e.data);
          if (kind === "status") { text("agent-status", data.status); }
          if (kind === "state" && data.state !== undefined) { text("agent-state", JSON.stringify(data.state, null, 2)); }
        } catch (err) { /* not JSON: the list shows it as it came */ }
        if (kind === "end") {
          source.close();
          if (status) { status.textContent = "The agent has no more events."; }
        }
      });
    });
  }

  // --- htmx: no polling swap while someone types in the part it would replace (a reason, say) -----
  document.addEventListener("htmx:beforeRequest", function (e) {
    var cfg = e.detail && e.detail.requestConfig;
    var target = e.detail && e.detail.elt;
    var active = document.activeElement;
    if (cfg && cfg.verb === "get" && target && active && target.contains(active) &&
        active.matches("input, select, textarea")) {
      e.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    liveChart();
    usageChart();
    agentEvents();
  });
})();
