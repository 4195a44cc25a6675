r"""The dashboard: one self-contained HTML page for `GET /` on the status server.

No CDN, no build step, no framework: inline CSS, a little plain JavaScript, SVG charts drawn by the
script. It reads `/health` every few seconds and `/api/history?since=...` every half minute (and
whenever the state changes), without reloading. The override buttons POST and DELETE `/override`;
when the server answers 401 they ask for the status token once, keep it in sessionStorage and send it
as `Authorization: Bearer`.

The page is a constant here (the .pyz packs only .py files). `page()` gives its bytes and the headers
to send: a Content-Security-Policy that allows only this page's own script and style (by hash) and
requests to the same origin, so even a mistake cannot make the browser fetch anything elsewhere.

Everything from the server is put into the page with textContent, never as HTML: user and player
names come from the media servers and could hold markup.
"""
from __future__ import annotations

import base64
import hashlib
import re
from typing import List, Tuple

CONTENT_TYPE = "text/html; charset=utf-8"

PAGE_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>plex-helper</title>
<link rel="icon" href="data:,">
<style>
:root{--fg:#1b1b1b;--bg:#fff;--muted:#595959;--line:#c8c8c8;--card:#f6f6f6;--warn:#8a4b00;--bad:#a4000f;--ok:#1f6b22;--accent:#1d4f91}
@media (prefers-color-scheme:dark){:root{--fg:#ececec;--bg:#141414;--muted:#b0b0b0;--line:#444;--card:#1f1f1f;--warn:#ffb86b;--bad:#ff8a8a;--ok:#8fd694;--accent:#8fb8ff}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:baseline;justify-content:space-between;padding:.75rem 1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.3rem;margin:0}
h2{font-size:1.1rem;margin:0 0 .5rem}
h3{font-size:1rem;margin:.75rem 0 .25rem}
main{display:grid;gap:1rem;padding:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,30rem),1fr));max-width:90rem;margin:0 auto}
section{background:var(--card);border:1px solid var(--line);border-radius:.4rem;padding:.75rem 1rem;min-width:0}
section.wide{grid-column:1/-1}
.muted,#updated{color:var(--muted);font-size:.9rem}
#state{display:inline-block;font-size:1.4rem;font-weight:700;padding:.2rem .7rem;border:2px solid currentColor;border-radius:.3rem;margin:0 0 .4rem}
#state[data-state=streaming]{color:var(--warn);background:repeating-linear-gradient(135deg,transparent 0 6px,rgba(128,128,128,.18) 6px 12px)}
#state[data-state=idle]{color:var(--ok)}
#why{margin:.2rem 0 .4rem}
ul{margin:.25rem 0;padding-left:1.2rem}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600}
.down{color:var(--bad);font-weight:600}
.up{color:var(--ok)}
.differs{color:var(--warn);font-weight:600}
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}
select,button{font:inherit;padding:.35rem .6rem;border-radius:.3rem;border:1px solid var(--line);background:var(--bg);color:var(--fg);min-height:2.5rem}
button{cursor:pointer;border-color:var(--accent);color:var(--accent);font-weight:600}
button:disabled{cursor:not-allowed;opacity:.55;border-color:var(--line);color:var(--muted)}
button:focus-visible,select:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.chart{width:100%}
.chart svg{display:block;width:100%;height:auto;color:var(--fg)}
.chart text{font-size:11px;fill:currentColor}
.grid{stroke:var(--line);stroke-width:1}
.streams{fill:url(#hatch);stroke:currentColor;stroke-width:1.5}
.marker{stroke:currentColor;stroke-width:1;stroke-dasharray:2 3;opacity:.7}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem;font-size:.9rem}
.legend svg{vertical-align:middle;margin-right:.3rem}
.summary{font-size:.9rem;margin:.25rem 0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:40rem){main{padding:.5rem;gap:.5rem}section{padding:.5rem .6rem}
table,tbody,tr,th,td{display:block;width:100%}thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
tr{border-bottom:2px solid var(--line);padding:.3rem 0}th,td{border:0;padding:.1rem .2rem}
td[data-label]::before{content:attr(data-label) ": ";font-weight:600}}
</style>
</head>
<body>
<header>
<h1>plex-helper</h1>
<p id="updated" role="status" aria-live="polite">Loading&hellip;</p>
</header>
<svg class="visually-hidden" width="0" height="0" aria-hidden="true" focusable="false"><defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<line x1="0" y1="0" x2="0" y2="6" stroke="currentColor" stroke-width="2" opacity="0.45"></line></pattern></defs></svg>
<main>
<section id="state-section" aria-labelledby="h-state">
<h2 id="h-state">State</h2>
<p id="state" data-state="unknown" aria-describedby="why">Unknown</p>
<p id="observed" class="muted" hidden></p>
<p id="why">Waiting for the first answer from plex-helper.</p>
<p>Remote streams: <strong id="remote-streams">&ndash;</strong></p>
<ul id="reasons" aria-label="What decides the state right now"></ul>
</section>
<section id="override-section" aria-labelledby="h-override">
<h2 id="h-override">Override</h2>
<p id="override-status">No override: plex-helper follows the media servers.</p>
<form id="override-form" aria-label="Set an override">
<label for="override-state">Force</label>
<select id="override-state">
<option value="streaming">streaming (throttle)</option>
<option value="idle">idle (no throttle)</option>
</select>
<label for="override-minutes">for</label>
<select id="override-minutes">
<option value="30">30 minutes</option>
<option value="60" selected>1 hour</option>
<option value="120">2 hours</option>
<option value="240">4 hours</option>
<option value="480">8 hours</option>
<option value="1440">1 day</option>
<option value="10080">1 week</option>
</select>
<button type="submit" id="override-set">Set override</button>
<button type="button" id="override-clear">Clear override</button>
</form>
<p id="override-message" role="status" aria-live="polite"></p>
</section>
<section id="servers-section" class="wide" aria-labelledby="h-servers">
<h2 id="h-servers">Media servers</h2>
<div id="servers"><p class="muted">No data yet.</p></div>
</section>
<section id="clients-section" class="wide" aria-labelledby="h-clients">
<h2 id="h-clients">Download clients</h2>
<div id="clients" class="table"><p class="muted">No data yet.</p></div>
</section>
<section id="day-section" class="wide" aria-labelledby="h-day">
<h2 id="h-day">Last 24 hours</h2>
<div id="chart-day" class="chart"></div>
<p id="summary-day" class="summary"></p>
</section>
<section id="week-section" class="wide" aria-labelledby="h-week">
<h2 id="h-week">Last 7 days</h2>
<div id="chart-week" class="chart"></div>
<p id="summary-week" class="summary"></p>
</section>
<section id="legend-section" class="wide" aria-labelledby="h-legend">
<h2 id="h-legend">Reading the charts</h2>
<ul id="legend" class="legend"></ul>
<p id="history-status" class="muted"></p>
</section>
</main>
<script>
"use strict";
(function () {
  var HEALTH_MS = 5000, DAY_MS = 30000, WEEK_MS = 300000, TOKEN_KEY = "plex-helper-token";
  var SVGNS = "http://www.w3.org/2000/svg";
  var DASHES = ["", "7 4", "2 3", "10 3 2 3", "1 5", "12 6"];
  var SHADES = ["#1d4f91", "#8a4b00", "#6b2c91", "#1f6b22", "#a4000f", "#555"];
  var seen = {health: null, day: null, week: null, effective: undefined, clients: []};

  function byId(id) { return document.getElementById(id); }
  function node(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  var DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  function clock(epoch, withDay) {
    var d = new Date(epoch * 1000);
    return (withDay ? DAYS[d.getDay()] + " " : "") + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function kib(v) {
    if (v === null || v === undefined) return "unknown";
    if (v === 0) return "unlimited";
    return v + " KiB/s (" + (v * 0.008192).toFixed(1) + " Mbit/s)";
  }
  function kbit(v) {
    if (v === null || v === undefined) return "unknown";
    return v >= 1000 ? (v / 1000).toFixed(1) + " Mbit/s" : v + " kbit/s";
  }
  function untilEpoch(o) {
    if (typeof o.until_epoch === "number") return o.until_epoch;
    if (typeof o.until === "number") return o.until;
    var t = Date.parse(String(o.until || "").replace(/([+-]\d\d)(\d\d)$/, "$1:$2"));
    return isNaN(t) ? null : t / 1000;
  }
  function stateWords(s) {
    if (s === "streaming") return "Streaming: upload throttled";
    if (s === "idle") return "Idle: upload not throttled";
    return "Unknown: no observation yet";
  }

  // ---- talking to the server
  var kept = {};  // where sessionStorage is refused (some private modes), the token lives in the page
  function store(key, value) {
    try {
      if (value === undefined) return sessionStorage.getItem(key);
      if (value === null) sessionStorage.removeItem(key); else sessionStorage.setItem(key, value);
    } catch (e) {
      if (value === undefined) return kept[key] || null;
      if (value === null) delete kept[key]; else kept[key] = value;
    }
    return null;
  }
  function getJSON(url) {
    return fetch(url, {cache: "no-store", credentials: "same-origin"}).then(function (r) {
      return r.json().then(function (body) { return {status: r.status, body: body}; });
    });
  }
  function send(method, body, retried) {
    var headers = {"Content-Type": "application/json"};
    var token = store(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    return fetch("override", {method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
                              cache: "no-store", credentials: "same-origin"}).then(function (r) {
      if (r.status === 401 && !retried) {
        if (token) store(TOKEN_KEY, null);
        var given = window.prompt(token ? "The status token was refused. Status token:" : "This needs the status token (status_token in the config):");
        if (!given) throw new Error("no token given: nothing changed");
        store(TOKEN_KEY, given.trim());
        return send(method, body, true);
      }
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (r.status === 401) { store(TOKEN_KEY, null); throw new Error("the status token was refused"); }
        if (r.status >= 400) throw new Error(answer.error || ("the server answered " + r.status));
        return answer;
      });
    });
  }
  function say(text) { byId("override-message").textContent = text; }
  byId("override-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var state = byId("override-state").value, minutes = Number(byId("override-minutes").value);
    say("Setting the override\u2026");
    send("POST", {state: state, minutes: minutes}).then(function () {
      say("Override set: " + state + " for " + byId("override-minutes").selectedOptions[0].textContent + ".");
      refreshHealth(); setTimeout(refreshHealth, 1500);  // the daemon applies it at its next observation
    }).catch(function (e) { say("Could not set the override: " + e.message); });
  });
  byId("override-clear").addEventListener("click", function () {
    say("Clearing the override\u2026");
    send("DELETE", null).then(function (a) {
      say(a && a.warning ? "Override cleared, but: " + a.warning : "Override cleared.");
      refreshHealth(); setTimeout(refreshHealth, 1500);
    }).catch(function (e) { say("Could not clear the override: " + e.message); });
  });

  // ---- the state, the servers, the clients
  function renderHealth(h, status) {
    var effective = h.effective_state || h.state || null;
    var st = byId("state");
    st.textContent = stateWords(effective);
    st.setAttribute("data-state", effective || "unknown");
    var observed = byId("observed");
    observed.hidden = !(h.state && h.effective_state && h.state !== h.effective_state);
    observed.textContent = observed.hidden ? "" : "The media servers alone would say: " + h.state + ".";
    byId("why").textContent = h.why || (status === 503 ? "plex-helper reports a problem (see below)." : "");
    byId("remote-streams").textContent = h.remote_streams === null || h.remote_streams === undefined ? "unknown" : String(h.remote_streams);
    var reasons = clear(byId("reasons"));
    if (h.override) reasons.appendChild(node("li", "Override: " + h.override.state + overrideUntil(h.override)));
    if (h.schedule && h.schedule.window) reasons.appendChild(node("li", "Schedule window in force: " + h.schedule.window));
    if (h.flap_held || h.flap_guard_holding) reasons.appendChild(node("li", "Flap guard: too many switches in the last hour, the throttle stays on."));
    (h.servers || []).forEach(function (s) { if (!s.reachable) reasons.appendChild(node("li", "Media server " + s.name + " is down" + (s.error ? ": " + s.error : "."), "down")); });
    (h.clients || []).forEach(function (c) { if (!c.reachable) reasons.appendChild(node("li", "Download client " + c.name + " is down" + (c.error ? ": " + c.error : "."), "down")); });
    renderOverride(h.override);
    renderServers(h.servers || []);
    renderClients(h.clients || []);
    var hs = h.history || null;
    byId("history-status").textContent = !hs ? "" : hs.enabled ? "History is kept." : "History is off" + (hs.error ? ": " + hs.error : ".");
  }
  function overrideUntil(o) {
    var u = untilEpoch(o);
    return u === null ? "" : " until " + clock(u, u - Date.now() / 1000 > 18 * 3600);
  }
  function renderOverride(o) {
    byId("override-status").textContent = o ? "Override in force: " + o.state + overrideUntil(o) + "." : "No override: plex-helper follows the media servers.";
    byId("override-clear").disabled = !o;
  }
  function cell(row, text, cls, header, label) {
    var c = node(header ? "th" : "td", text, cls);
    if (header) c.scope = "row";
    if (label) c.setAttribute("data-label", label);  // shown before the value where a phone stacks the table
    row.appendChild(c);
    return c;
  }
  function table(caption, heads) {
    var t = node("table"), tr = node("tr");
    if (caption) t.appendChild(node("caption", caption));
    heads.forEach(function (h) { var th = node("th", h); th.scope = "col"; tr.appendChild(th); });
    var thead = node("thead"); thead.appendChild(tr); t.appendChild(thead);
    t.appendChild(node("tbody"));
    return t;
  }
  function renderServers(servers) {
    var box = clear(byId("servers"));
    if (!servers.length) { box.appendChild(node("p", "No media server in the answer.", "muted")); return; }
    servers.forEach(function (s) {
      var div = node("div"); div.className = "server"; div.setAttribute("data-name", s.name);
      div.appendChild(node("h3", s.name + (s.type ? " (" + s.type + ")" : "")));
      var line = node("p");
      line.appendChild(node("span", s.reachable ? "Reachable" : "DOWN", s.reachable ? "up" : "down"));
      if (s.latency_ms !== null && s.latency_ms !== undefined) line.appendChild(document.createTextNode(", answered in " + s.latency_ms + " ms"));
      if (s.error) line.appendChild(document.createTextNode(". Last error: " + s.error));
      div.appendChild(line);
      var sessions = s.sessions || [];
      if (!sessions.length) div.appendChild(node("p", "Nothing playing.", "muted"));
      else {
        var t = table("Sessions on " + s.name, ["User", "Player", "State", "Where", "Why", "Bandwidth"]), body = t.tBodies[0];
        sessions.forEach(function (x) {
          var tr = node("tr"); tr.className = "session";
          cell(tr, x.user || "(unknown)", null, true); cell(tr, x.player || "", null, false, "Player");
          cell(tr, x.state || "", null, false, "State");
          cell(tr, x.remote ? "remote" : "local", x.remote ? "differs" : null, false, "Where");
          cell(tr, x.reason || "", null, false, "Why"); cell(tr, kbit(x.bandwidth_kbps), null, false, "Bandwidth");
          body.appendChild(tr);
        });
        var wrap = node("div", null, "table"); wrap.appendChild(t); div.appendChild(wrap);
      }
      box.appendChild(div);
    });
  }
  function renderClients(clients) {
    var box = clear(byId("clients"));
    seen.clients = clients.map(function (c) { return c.name; });
    if (!clients.length) { box.appendChild(node("p", "No download client in the answer.", "muted")); return; }
    var t = table(null, ["Client", "Reachable", "Limit now", "plex-helper wants"]), body = t.tBodies[0];
    clients.forEach(function (c) {
      var tr = node("tr"); tr.className = "client"; tr.setAttribute("data-name", c.name);
      cell(tr, c.name + (c.type ? " (" + c.type + ")" : ""), null, true);
      cell(tr, c.reachable ? "yes" : "NO" + (c.error ? ": " + c.error : ""), c.reachable ? "up" : "down", false, "Reachable");
      var now = c.unlimited && (c.limit_kib === null || c.limit_kib === undefined) ? 0 : c.limit_kib;
      var differs = now !== null && now !== undefined && c.wanted_kib !== null && c.wanted_kib !== undefined && now !== c.wanted_kib;
      cell(tr, kib(now), "limit", false, "Limit now");
      cell(tr, kib(c.wanted_kib) + (differs ? " (differs)" : ""), differs ? "differs" : null, false, "plex-helper wants");
      body.appendChild(tr);
    });
    box.appendChild(t);
  }

  // ---- the charts
  function seriesOf(data) {
    var per = {};
    function add(name, at, v) { (per[name] = per[name] || []).push([at, v]); }
    (data.samples || []).forEach(function (s) { for (var n in s.limits || {}) add(n, s.at, s.limits[n]); });
    (data.limits || []).forEach(function (l) { add(l.client, l.at, l.limit_kib); });
    for (var n in per) per[n].sort(function (a, b) { return a[0] - b[0]; });
    return per;
  }
  // a step line through `points` ([epoch, value]; null is a gap, so is a pause longer than maxGap);
  // with `base`, each piece is closed down to that y, as an area
  function stepPath(points, x, y, maxGap, base) {
    var d = "", prev = null, close = base === undefined ? "" : "V" + base + "Z";
    points.forEach(function (p) {
      var gap = p[1] === null || p[1] === undefined;
      if (prev !== null && (gap || p[0] - prev[0] > maxGap)) { d += close; prev = null; }
      if (gap) return;
      var px = x(p[0]).toFixed(1), py = y(p[1]).toFixed(1);
      if (prev === null) d += base === undefined ? "M" + px + " " + py : "M" + px + " " + base + "V" + py;
      else d += "H" + px + "V" + py;
      prev = p;
    });
    return prev === null ? d : d + close;
  }
  function drawChart(boxId, summaryId, data, since, until, weekly) {
    var box = clear(byId(boxId));
    var W = Math.max(300, Math.round(box.clientWidth || 640)), L = 70, R = 12, T = 12, H1 = 60, GAP = 26, H2 = 110, B = 22;
    var H = T + H1 + GAP + H2 + B, span = Math.max(until - since, 1);
    function x(t) { return L + (Math.min(Math.max(t, since), until) - since) / span * (W - L - R); }
    var samples = data.samples || [], states = data.states || [], per = seriesOf(data), names = Object.keys(per).sort();
    var maxStreams = 1, maxKib = 0, anyUnlimited = false, step = weekly ? 3600 : 300;
    samples.forEach(function (s) { if (s.remote_streams > maxStreams) maxStreams = s.remote_streams; });
    names.forEach(function (n) { per[n].forEach(function (p) { if (p[1] === 0) anyUnlimited = true; else if (p[1] > maxKib) maxKib = p[1]; }); });
    var top2 = T + H1 + GAP, ceil = maxKib ? maxKib * 1.1 : 100, unlimitedY = top2 + 4;
    function ys(n) { return T + H1 - n / maxStreams * H1; }
    function yl(k) { return k === 0 ? unlimitedY : top2 + H2 - Math.min(k / ceil, 1) * (H2 - 14); }
    var maxStreamsInView = 0, minKib = null, changes = 0, summary = [];
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-labelledby": boxId + "-t " + boxId + "-d"});
    root.appendChild(svg("title", {id: boxId + "-t"}, (weekly ? "Last 7 days" : "Last 24 hours") + ": remote streams and upload limits"));
    var desc = svg("desc", {id: boxId + "-d"}); root.appendChild(desc);
    // frames and axes
    [[T, H1], [top2, H2]].forEach(function (f) { root.appendChild(svg("rect", {x: L, y: f[0], width: W - L - R, height: f[1], fill: "none", "class": "grid"})); });
    root.appendChild(svg("text", {x: L - 6, y: T + 9, "text-anchor": "end"}, maxStreams + " streams"));
    root.appendChild(svg("text", {x: L - 6, y: T + H1, "text-anchor": "end"}, "0"));
    root.appendChild(svg("text", {x: L - 6, y: top2 + H2, "text-anchor": "end"}, "0 KiB/s"));
    if (maxKib) root.appendChild(svg("text", {x: L - 6, y: yl(maxKib) + 4, "text-anchor": "end"}, maxKib + " KiB/s"));
    if (anyUnlimited) root.appendChild(svg("text", {x: L - 6, y: unlimitedY + 4, "text-anchor": "end"}, "unlimited"));
    var day = new Date(since * 1000);
    day.setMinutes(0, 0, 0);
    if (weekly) day.setHours(0);
    while (day.getTime() / 1000 <= until) {  // ticks at local midnights, or every third (sixth) local hour
      var t = day.getTime() / 1000;
      if (t >= since && (weekly || day.getHours() % (W < 560 ? 6 : 3) === 0)) {
        var gx = x(t);
        root.appendChild(svg("line", {x1: gx, x2: gx, y1: T, y2: top2 + H2, "class": "grid", opacity: 0.5}));
        var lx = weekly ? x(t + 43200) : gx;  // a day's name under its middle, an hour under its line
        if (!weekly || t + 43200 <= until) root.appendChild(svg("text", {x: lx, y: H - 6, "text-anchor": "middle"}, weekly ? DAYS[day.getDay()] : clock(t, false)));
      }
      if (weekly) day.setDate(day.getDate() + 1); else day.setHours(day.getHours() + 1);
    }
    // remote streams: a hatched step area
    var pts = samples.map(function (s) { return [s.at, s.remote_streams]; });
    pts.forEach(function (p) { if (p[1] > maxStreamsInView) maxStreamsInView = p[1]; });
    var area = stepPath(pts, x, ys, step * 3, T + H1);
    if (area) root.appendChild(svg("path", {d: area, "class": "streams"}));
    // the limits, one dash pattern per client
    names.forEach(function (n, i) {
      var d = stepPath(per[n], x, yl, step * 3);
      per[n].forEach(function (p) { if (p[1] !== null && p[1] !== undefined && p[1] !== 0 && (minKib === null || p[1] < minKib)) minKib = p[1]; });
      if (!d) return;
      var path = svg("path", {d: d, fill: "none", stroke: SHADES[i % SHADES.length], "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length], "class": "limit"});
      path.appendChild(svg("title", {}, n + " upload limit"));
      root.appendChild(path);
    });
    // state changes
    states.forEach(function (s) {
      if (s.at < since || s.at > until) return;
      changes += 1;
      var mx = x(s.at), g = svg("g", {"class": "state-change"});
      g.appendChild(svg("line", {x1: mx, x2: mx, y1: T, y2: top2 + H2, "class": "marker"}));
      g.appendChild(svg("text", {x: mx, y: top2 - 8, "text-anchor": "middle"}, s.to === "streaming" ? "\u25B2" : "\u25BD"));
      g.appendChild(svg("title", {}, clock(s.at, true) + ": " + (s.from || "unknown") + " \u2192 " + s.to + " (" + s.reason + ")"));
      root.appendChild(g);
    });
    if (!samples.length && !states.length && !names.length) {
      root.appendChild(svg("text", {x: W / 2, y: T + H1 + GAP / 2 + 4, "text-anchor": "middle"}, data.enabled === false ? "History is off" : "No history yet"));
    }
    summary.push("At most " + maxStreamsInView + " remote stream" + (maxStreamsInView === 1 ? "" : "s"));
    summary.push(changes + " state change" + (changes === 1 ? "" : "s"));
    if (names.length) summary.push("tightest limit " + (minKib === null ? "unlimited" : minKib + " KiB/s"));
    if (data.downsampled) summary.push("one point per " + Math.round(span / Math.max(samples.length, 1) / 60) + " minutes");
    desc.textContent = summary.join("; ") + ".";
    byId(summaryId).textContent = summary.join("; ") + ".";
    box.appendChild(root);
    renderLegend(names);
  }
  function renderLegend(names) {
    var list = clear(byId("legend"));
    function item(label, draw) {
      var li = node("li"), s = svg("svg", {width: 36, height: 14, "aria-hidden": "true"});
      draw(s); li.appendChild(s); li.appendChild(document.createTextNode(label)); list.appendChild(li);
    }
    item("remote streams (hatched area)", function (s) { s.appendChild(svg("rect", {x: 1, y: 2, width: 34, height: 10, fill: "url(#hatch)", stroke: "currentColor"})); });
    names.forEach(function (n, i) {
      item(n + " upload limit", function (s) { s.appendChild(svg("line", {x1: 1, y1: 7, x2: 35, y2: 7, stroke: SHADES[i % SHADES.length], "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length]})); });
    });
    item("\u25B2 streaming began, \u25BD idle again", function () {});
  }

  // ---- refreshing
  var timers = {};
  function later(name, fn, ms) { clearTimeout(timers[name]); timers[name] = setTimeout(fn, ms); }
  function refreshHealth() {
    return getJSON("health").then(function (r) {
      seen.health = r.body;
      renderHealth(r.body, r.status);
      byId("updated").textContent = "Updated " + clock(Date.now() / 1000, false) + (r.status === 503 ? " (unhealthy)" : "");
      var eff = r.body.effective_state || r.body.state || null;
      if (seen.effective !== undefined && eff !== seen.effective) { refreshHistory("day"); refreshHistory("week"); }
      seen.effective = eff;
    }).catch(function (e) {
      byId("updated").textContent = "Cannot reach plex-helper (" + e.message + "); retrying.";
    }).then(function () { later("health", refreshHealth, HEALTH_MS); });
  }
  function refreshHistory(which) {
    var until = Date.now() / 1000, since = until - (which === "week" ? 7 * 86400 : 86400);
    return getJSON("api/history?since=" + Math.floor(since)).then(function (r) {
      if (r.status !== 200) throw new Error(r.body && r.body.error || "status " + r.status);
      seen[which] = {data: r.body, since: since, until: until};
      draw(which);
    }).catch(function (e) {
      byId("summary-" + which).textContent = "History could not be read (" + e.message + ").";
    }).then(function () { later(which, function () { refreshHistory(which); }, which === "week" ? WEEK_MS : DAY_MS); });
  }
  function draw(which) {
    var s = seen[which];
    if (s) drawChart("chart-" + which, "summary-" + which, s.data, s.since, s.until, which === "week");
  }
  var resizing = null;
  window.addEventListener("resize", function () { clearTimeout(resizing); resizing = setTimeout(function () { draw("day"); draw("week"); }, 200); });
  refreshHealth();
  refreshHistory("day");
  refreshHistory("week");
})();
</script>
</body>
</html>
"""


def _inline_hash(tag: str) -> str:
    match = re.search(r"<%s>(.*?)</%s>" % (tag, tag), PAGE_HTML, re.S)
    assert match is not None, tag
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(match.group(1).encode("utf-8")).digest()).decode("ascii")


# Only this page's own script and style run, and the page may talk to its own origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src %s; style-src %s; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'" % (_inline_hash("script"), _inline_hash("style"))
)
PAGE_BYTES = PAGE_HTML.encode("utf-8")
# besides Content-Type (CONTENT_TYPE), Content-Length and Cache-Control, which the status server sets
SECURITY_HEADERS: Tuple[Tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)


def page() -> Tuple[bytes, str, List[Tuple[str, str]]]:
    """(the page's bytes, its Content-Type, the other headers to send with it)."""
    return PAGE_BYTES, CONTENT_TYPE, list(SECURITY_HEADERS)
