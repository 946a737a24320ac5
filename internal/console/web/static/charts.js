// Live charts: polls /api/series every 2 s, keeps 5 minutes, draws SVG
// polylines. Counters become rates between samples.
(function () {
  "use strict";
  var keep = 150, samples = [];
  var colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
  function rate(prev, cur, pick) {
    var dt = (cur.time - prev.time) / 1000;
    return dt > 0 ? Math.max((pick(cur) - pick(prev)) / dt, 0) : 0;
  }
  function draw(id, series) {
    var svg = document.getElementById("chart-" + id), legend = document.getElementById("legend-" + id);
    var maxV = 1;
    series.forEach(function (s) { s.points.forEach(function (v) { maxV = Math.max(maxV, v); }); });
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    legend.textContent = "";
    series.forEach(function (s, i) {
      // The x axis fills as samples arrive: at least a minute wide.
      var width = Math.max(s.points.length, 30) - 1;
      var pts = s.points.map(function (v, j) {
        return (j * 600 / width).toFixed(1) + "," + (195 - v * 190 / maxV).toFixed(1);
      }).join(" ");
      var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", pts);
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", colors[i % colors.length]);
      line.setAttribute("stroke-width", "2");
      svg.appendChild(line);
      var item = document.createElement("span");
      item.style.color = colors[i % colors.length];
      var last = s.points.length ? s.points[s.points.length - 1] : 0;
      item.textContent = s.name + ": " + Math.round(last);
      legend.appendChild(item);
    });
    svg.setAttribute("data-series", String(series.length));
    svg.setAttribute("data-samples", String(samples.length));
  }
  function keys(field) {
    var set = {};
    samples.forEach(function (s) { Object.keys(s[field] || {}).forEach(function (k) { set[k] = true; }); });
    return Object.keys(set).sort();
  }
  function redraw() {
    var pairs = [];
    for (var i = 1; i < samples.length; i++) pairs.push([samples[i - 1], samples[i]]);
    draw("records", keys("records_in").map(function (t) {
      return { name: t, points: pairs.map(function (p) { return rate(p[0], p[1], function (s) { return (s.records_in || {})[t] || 0; }); }) };
    }));
    draw("bytes", [
      { name: "in", points: pairs.map(function (p) { return rate(p[0], p[1], function (s) { return s.bytes_in; }); }) },
      { name: "out", points: pairs.map(function (p) { return rate(p[0], p[1], function (s) { return s.bytes_out; }); }) }
    ]);
    draw("lag", keys("group_lag").map(function (g) {
      return { name: g, points: samples.map(function (s) { return (s.group_lag || {})[g] || 0; }) };
    }));
  }
  function poll() {
    fetch("/api/series", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (p) {
      samples.push(p);
      if (samples.length > keep) samples.shift();
      redraw();
    }).catch(function () {}).finally(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
