"""The live pipeline page served at `/` of the metrics port: one self-contained document.

Strategy: plain HTML, CSS and JavaScript inline, the graph drawn as SVG by the page's own
script; nothing is loaded from elsewhere (no CDN, no build step). Every `interval` ms
(default 1500, `?interval=`) the script fetches `/api/pipeline`, lays the objects out in
layers by depth (sources and tables on the left, each reader one column right of the
furthest object it reads) and draws each view and sink with one line per operator:
rows/s and busy share (both from the difference between two polls), state size and
watermark lag. Clicking an object (or `?select=<name>`) shows its EXPLAIN ANALYZE from
`/api/explain?id=N`, refreshed with every poll. Kept as a Python string so that it is
part of the package however it is installed.
"""

from __future__ import annotations

PAGE_HTML = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>laminar_pg pipeline</title>
<style>
  body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  header { padding: 10px 16px; background: #1d2330; color: #fff; display: flex;
           gap: 24px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0; font-weight: 600; }
  header .figure b { font-weight: 600; }
  #error { color: #ffb4b4; }
  #canvas { overflow: auto; padding: 12px; }
  aside { border-top: 1px solid #d5d9e0; background: #fff; padding: 12px 16px; }
  aside h2 { font-size: 14px; margin: 0 0 8px; }
  aside pre { font: 12px/1.35 ui-monospace, monospace; white-space: pre; overflow: auto;
              margin: 0; }
  .node rect.box { fill: #fff; stroke: #8a94a6; stroke-width: 1.2; rx: 6; }
  .node { cursor: pointer; }
  .node.selected rect.box { stroke: #2563eb; stroke-width: 2.5; }
  .node.running rect.band { fill: #16a34a; }
  .node.finished rect.band { fill: #2563eb; }
  .node.failed rect.band { fill: #dc2626; }
  .node.idle rect.band, .node.ready rect.band { fill: #9ca3af; }
  .node text { font: 12px system-ui, sans-serif; fill: #1d2330; }
  .node text.title { font-weight: 600; }
  .node text.kind { fill: #5b6474; font-size: 11px; }
  .node text.summary { fill: #374151; }
  .node text.operator { font: 11px ui-monospace, monospace; fill: #374151; white-space: pre; }
  .node text.operator.hot { fill: #b45309; }
  path.edge { fill: none; stroke: #8a94a6; stroke-width: 1.5; }
  .empty { color: #5b6474; padding: 24px; }
</style>
</head>
<body>
<header>
  <h1>laminar_pg pipeline</h1>
  <span class="figure">state <b id="state">-</b></span>
  <span class="figure">epoch <b id="epoch">-</b></span>
  <span class="figure">events ingested <b id="ingested">-</b> (<b id="ingest-rate">-</b>/s)</span>
  <span class="figure">utilization <b id="utilization">-</b></span>
  <span class="figure">backpressure <b id="backpressure">-</b></span>
  <span id="error"></span>
</header>
<main>
  <div id="canvas">
    <svg id="graph" xmlns="http://www.w3.org/2000/svg" width="400" height="200">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"
                markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#8a94a6"></path>
        </marker>
      </defs>
      <g id="edges"></g>
      <g id="nodes"></g>
    </svg>
    <div id="empty" class="empty" hidden>No sources, streams or views yet.</div>
  </div>
  <aside>
    <h2 id="detail-title">Click a view, sink or stream for its EXPLAIN ANALYZE</h2>
    <pre id="explain"></pre>
  </aside>
</main>
<script>
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);
const INTERVAL = Math.max(250, Number(params.get("interval")) || 1500);
const WIDTH = 440, GAP_X = 50, GAP_Y = 18, HEAD = 46, LINE = 15;
const BASELINE = 1.0;     // seconds (server time) a rate spans at least
let previous = null;      // the baseline poll: {now, counters: Map key -> value}
let selected = null;      // id of the object whose EXPLAIN ANALYZE is shown
let wanted = params.get("select");  // a name to select once it appears

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function count(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "-";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Math.round(n).toString();
}

function bytes(n) {
  if (n === null || n === undefined) return "-";
  const units = ["B", "kB", "MB", "GB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
}

function lag(o) {
  if (o.end_of_time) return "wm: end";
  if (o.lag_seconds === null || o.lag_seconds === undefined) return "wm: none";
  return "lag " + duration(o.lag_seconds);
}

function duration(s) {
  if (Math.abs(s) < 120) return s.toFixed(1) + " s";
  if (Math.abs(s) < 7200) return (s / 60).toFixed(0) + " min";
  if (Math.abs(s) < 172800) return (s / 3600).toFixed(0) + " h";
  return (s / 86400).toFixed(0) + " d";
}

function pct(x) { return x === null || x === undefined ? "-" : Math.round(x * 100) + "%"; }

// a rate from two polls: (value now - value then) / seconds between them
function rate(counters, key, value, now) {
  counters.set(key, value);
  if (!previous || !previous.counters.has(key) || now - previous.now < BASELINE / 2) {
    return null;
  }
  return Math.max(0, (value - previous.counters.get(key)) / (now - previous.now));
}

function depths(objects) {
  const byId = new Map(objects.map(o => [o.id, o]));
  const depth = new Map();
  function visit(o, seen) {
    if (depth.has(o.id)) return depth.get(o.id);
    if (seen.has(o.id)) return 0;
    seen.add(o.id);
    let d = 0;
    for (const i of o.inputs) {
      const up = byId.get(i);
      if (up) d = Math.max(d, visit(up, seen) + 1);
    }
    depth.set(o.id, d);
    return d;
  }
  for (const o of objects) visit(o, new Set());
  return depth;
}

function summary(o, counters, now) {
  if (o.kind === "source") {
    return count(o.events) + " events \u00b7 " + count(o.events_per_second) + " ev/s \u00b7 " +
      lag(o) + " \u00b7 " + o.status;
  }
  if (o.kind === "stream") return "inlined into its readers \u00b7 " + lag(o) + " \u00b7 " + o.status;
  if (o.kind === "table") return "table";
  const r = rate(counters, "out:" + o.id, o.rows_in, now);
  return count(o.rows) + " rows \u00b7 " + (r === null ? "-" : count(r)) + " changes/s \u00b7 " +
    bytes(o.state_bytes) + " \u00b7 " + lag(o) + " \u00b7 " + o.status;
}

function operatorLine(o, op, counters, now) {
  const rows = rate(counters, "op:" + o.id + ":" + op.id, op.rows_in, now);
  const busy = rate(counters, "busy:" + o.id + ":" + op.id, op.busy_seconds, now);
  const label = op.label.length > 20 ? op.label.slice(0, 19) + "\u2026" : op.label;
  const text = label.padEnd(20) + " " + (rows === null ? "-" : count(rows)).padStart(6) +
    " rows/s " + bytes(op.state_bytes).padStart(8) + " " + lag(op).padEnd(11) + " busy " +
    pct(busy);
  return {text, hot: busy !== null && busy > 0.5};
}

function draw(doc) {
  const now = doc.now, counters = new Map();
  const objects = doc.objects;
  const p = doc.pipeline;
  document.getElementById("state").textContent = p.state;
  document.getElementById("epoch").textContent = p.epoch;
  document.getElementById("ingested").textContent = count(p.events_ingested);
  const ingest = rate(counters, "ingested", p.events_ingested, now);
  document.getElementById("ingest-rate").textContent = ingest === null ? "-" : count(ingest);
  document.getElementById("utilization").textContent = pct(p.utilization);
  document.getElementById("backpressure").textContent =
    pct(p.backpressure) + " (" + count(p.pending_rows) + " rows pending)";
  document.getElementById("empty").hidden = objects.length > 0;

  const depth = depths(objects);
  const columns = [];
  for (const o of objects) {
    const d = depth.get(o.id);
    (columns[d] = columns[d] || []).push(o);
  }
  const place = new Map();
  let height = 0;
  columns.forEach((column, d) => {
    let y = 10;
    column.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
    for (const o of column) {
      const h = HEAD + LINE * (o.operators ? o.operators.length : 0) + 8;
      place.set(o.id, {x: 10 + d * (WIDTH + GAP_X), y, h});
      y += h + GAP_Y;
    }
    height = Math.max(height, y);
  });
  const svg = document.getElementById("graph");
  svg.setAttribute("width", String(20 + columns.length * (WIDTH + GAP_X)));
  svg.setAttribute("height", String(Math.max(height, 100)));

  const edges = document.getElementById("edges");
  edges.replaceChildren();
  for (const o of objects) {
    const to = place.get(o.id);
    for (const i of o.inputs) {
      const from = place.get(i);
      if (!from) continue;
      const x1 = from.x + WIDTH, y1 = from.y + 22, x2 = to.x, y2 = to.y + 22;
      const mid = (x1 + x2) / 2;
      edges.appendChild(el("path", {class: "edge", "data-from": i, "data-to": o.id,
        d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`,
        "marker-end": "url(#arrow)"}));
    }
  }

  const nodes = document.getElementById("nodes");
  nodes.replaceChildren();
  for (const o of objects) {
    if (wanted !== null && o.name === wanted) { selected = o.id; wanted = null; }
    const at = place.get(o.id);
    const g = el("g", {class: "node " + o.status + (o.id === selected ? " selected" : ""),
      transform: `translate(${at.x},${at.y})`, "data-id": o.id, "data-kind": o.kind,
      "data-name": o.name});
    g.appendChild(el("rect", {class: "box", width: WIDTH, height: at.h}));
    g.appendChild(el("rect", {class: "band", width: 5, height: at.h}));
    g.appendChild(el("text", {class: "kind", x: 12, y: 15}, o.kind + " \u00b7 " + o.schema));
    g.appendChild(el("text", {class: "title", x: 12, y: 30}, o.name));
    g.appendChild(el("text", {class: "summary", x: 12, y: 43}, summary(o, counters, now)));
    (o.operators || []).forEach((op, i) => {
      const line = operatorLine(o, op, counters, now);
      g.appendChild(el("text", {class: "operator" + (line.hot ? " hot" : ""), x: 12,
        y: HEAD + 10 + i * LINE}, line.text));
    });
    if (o.error) g.appendChild(el("title", {}, o.error));
    g.addEventListener("click", () => { selected = o.id; explain(); poll(); });
    nodes.appendChild(g);
  }
  // rates span at least BASELINE seconds of the server's time (a poll answered late, or
  // two polls close together, would otherwise give noise)
  if (!previous || now - previous.now >= BASELINE) previous = {now, counters};
}

async function explain() {
  if (selected === null) return;
  const answer = await fetch("/api/explain?id=" + selected, {cache: "no-store"});
  if (!answer.ok) { selected = null; return; }
  const doc = await answer.json();
  document.getElementById("detail-title").textContent =
    "EXPLAIN ANALYZE " + doc.kind.toUpperCase() + " " + doc.schema + "." + doc.name;
  document.getElementById("explain").textContent = doc.text;
}

let timer = null;
async function poll() {
  clearTimeout(timer);
  try {
    const answer = await fetch("/api/pipeline", {cache: "no-store"});
    if (!answer.ok) throw new Error("/api/pipeline: HTTP " + answer.status);
    draw(await answer.json());
    await explain();
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "not updating: " + e.message;
  }
  timer = setTimeout(poll, INTERVAL);
}
poll();
</script>
</body>
</html>
"""
