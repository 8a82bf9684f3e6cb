// The hookgate inspector: plain JavaScript over the admin API. Everything shown is built with
// textContent (never innerHTML), so nothing a vendor sent can run in this page.
"use strict";

const state = { token: sessionStorage.getItem("hookgate-token") || "", cursors: [], next: null, detail: null, raw: false };

// A token given in the address (#token=...) is kept for the session and removed from the address.
(function takeTokenFromFragment() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    state.token = decodeURIComponent(m[1]);
    sessionStorage.setItem("hookgate-token", state.token);
    history.replaceState(null, "", location.pathname);
  }
})();

const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
function ago(seconds) {
  if (seconds == null) return "—";
  if (seconds < 90) return Math.round(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}

async function api(path, options) {
  const headers = Object.assign({ "content-type": "application/json" }, (options && options.headers) || {});
  if (state.token) headers.authorization = "Bearer " + state.token;
  const r = await fetch(path, Object.assign({}, options, { headers }));
  if (r.status === 401 || r.status === 403) {
    showLogin((await r.json().catch(() => ({}))).error || (await r.text().catch(() => "")));
    throw new Error("unauthorized");
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

function showLogin(message) {
  $("login").classList.remove("hidden");
  $("login-error").textContent = state.token ? "The token was refused." : (message || "");
}
$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("hookgate-token", state.token);
  $("login").classList.add("hidden");
  refreshAll();
  openStream();
});

// Tabs.
let current = "overview";
function show(tab) {
  current = tab;
  for (const b of document.querySelectorAll("button.tab")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const id of ["overview", "events", "rejections", "dead", "detail"]) $(id).classList.toggle("hidden", id !== tab);
  refresh(tab);
}
for (const b of document.querySelectorAll("button.tab")) b.addEventListener("click", () => show(b.dataset.tab));

// Overview: a card per route.
const OK = ["accepted", "forwarded", "duplicate", "delivered", "handshake"];
async function overview() {
  const data = await api("/api/overview");
  const box = $("routes");
  box.replaceChildren();
  for (const r of data.routes) {
    const totals = {};
    let bad = 0, upstreamSum = 0, upstreamN = 0;
    for (const m of r.minutes) {
      for (const [k, n] of Object.entries(m.counts)) totals[k] = (totals[k] || 0) + n;
      upstreamSum += m.upstream_ms_sum; upstreamN += m.upstream_n;
    }
    const rejected = Object.entries(totals).filter(([k]) => !OK.includes(k) && k !== "retry" && k !== "dead");
    for (const [, n] of rejected) bad += n;
    const stat = (label, value, cls) => el("div", { class: "stat " + (cls || "") }, el("b", {}, value), el("span", {}, label));
    const card = el("div", { class: "card", "data-route": r.route },
      el("h2", {}, r.route, el("span", { class: "muted" }, "last hour")),
      el("div", { class: "stats" },
        stat("accepted", (totals.accepted || 0) + (totals.forwarded || 0), "ok"),
        stat("duplicate", totals.duplicate || 0),
        stat("rejected", bad, bad ? "bad" : ""),
        stat("delivered", totals.delivered || 0, "ok"),
        stat("failing", totals.retry || 0, totals.retry ? "warn" : ""),
        stat("dead", r.dead, r.dead ? "bad" : ""),
        stat("queued", r.queued),
        stat("oldest queued", ago(r.oldest_queued_seconds)),
        stat("upstream avg", upstreamN ? (upstreamSum / upstreamN).toFixed(1) + " ms" : "—")),
      spark(r.minutes));
    if (rejected.length) card.append(el("p", { class: "reasons" }, "refused: " + rejected.map(([k, n]) => k + " " + n).join(", ")));
    box.append(card);
  }
  if (!data.routes.length) box.append(el("p", { class: "muted" }, "No routes yet."));
}

// Requests per minute over the last hour: green for what went well, red for the rest.
function spark(minutes) {
  const s = svg("svg", { class: "spark", viewBox: "0 0 60 40", preserveAspectRatio: "none" });
  const now = Math.floor(Date.now() / 60000);
  const by = new Map(minutes.map((m) => [m.minute, m]));
  let max = 1;
  for (const m of minutes) max = Math.max(max, m.requests);
  for (let i = 0; i < 60; i++) {
    const m = by.get(now - 59 + i);
    if (!m) continue;
    let good = 0;
    for (const [k, n] of Object.entries(m.counts)) if (OK.includes(k)) good += n;
    const total = Math.max(m.requests, good);
    const h = (total / max) * 38, hg = (good / max) * 38;
    s.append(svg("rect", { x: i, y: 40 - h, width: 0.8, height: h - hg, class: "bad" }));
    s.append(svg("rect", { x: i, y: 40 - hg, width: 0.8, height: hg, class: "ok" }));
  }
  return s;
}

// Events: filters, paging through the store.
async function routes() {
  const data = await api("/api/routes");
  for (const id of ["f-route", "d-route"]) {
    const sel = $(id), keep = sel.value;
    sel.replaceChildren(el("option", { value: "" }, "all routes"), ...data.routes.map((r) => el("option", { value: r.name }, r.name)));
    sel.value = keep;
  }
}
function query(extra) {
  const q = new URLSearchParams();
  for (const [k, id] of [["route", "f-route"], ["state", "f-state"], ["id", "f-id"], ["type", "f-type"], ["since", "f-since"]]) {
    if ($(id).value) q.set(k, $(id).value);
  }
  q.set("limit", "50");
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q.toString();
}
async function events(before) {
  const data = await api("/api/events?" + query(before ? { before } : {}));
  const body = $("event-table").tBodies[0];
  body.replaceChildren(...data.events.map((e) => el("tr", { class: "clickable", onclick: () => openEvent(e.route, e.id) },
    el("td", {}, when(e.received)), el("td", {}, e.route), el("td", {}, el("code", {}, e.id)), el("td", {}, e.type || "—"),
    el("td", {}, el("span", { class: "state " + e.state }, e.state)), el("td", {}, e.attempts), el("td", {}, e.last_status || "—"))));
  if (!data.events.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No events match.")));
  state.next = data.next;
  $("older").classList.toggle("hidden", data.next == null);
  $("newer").classList.toggle("hidden", !before);
}
$("filters").addEventListener("submit", (e) => { e.preventDefault(); state.cursors = []; events(); });
$("older").addEventListener("click", () => { state.cursors.push(state.next); events(state.next); });
$("newer").addEventListener("click", () => { state.cursors = []; events(); });

// One event.
async function openEvent(route, id) {
  const d = await api("/api/events/" + encodeURIComponent(route) + "/" + encodeURIComponent(id));
  state.detail = d;
  state.raw = false;
  current = "detail";
  for (const s of ["overview", "events", "rejections", "dead"]) $(s).classList.add("hidden");
  $("detail").classList.remove("hidden");
  renderDetail();
}
function renderDetail() {
  const d = state.detail, e = d.event;
  $("d-title").textContent = e.route + " / " + e.id;
  $("replay-result").textContent = "";
  const dl = $("d-summary");
  dl.replaceChildren();
  for (const [k, v] of [["state", e.state], ["type", e.type || "—"], ["received", when(e.received)], ["from", d.request.client],
    ["request id", d.request.request_id], ["attempts", e.attempts], ["next attempt", when(e.next_attempt)],
    ["delivered", when(e.delivered)], ["dead-lettered because", e.dead_reason || "—"], ["replayed", e.replays + " times"]]) {
    dl.append(el("dt", {}, k), el("dd", {}, v));
  }
  $("d-attempts").tBodies[0].replaceChildren(...d.attempts.map((a) => el("tr", {},
    el("td", {}, a.attempt), el("td", {}, when(a.at)), el("td", {}, a.status || "—"), el("td", {}, a.latency_ms.toFixed(1) + " ms"),
    el("td", {}, a.outcome + (a.reason ? " (" + a.reason + ")" : "")), el("td", {}, when(a.next_attempt)), el("td", {}, a.error || ""))));
  $("d-headers").tBodies[0].replaceChildren(...d.request.headers.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))));
  $("d-body").textContent = bodyText(d.request.body, state.raw);
  $("raw-toggle").textContent = state.raw ? "pretty" : "raw bytes";
  $("d-envelope-headers").tBodies[0].replaceChildren(el("tr", {}, el("td", {}, "content-type"), el("td", {}, d.envelope.content_type)),
    ...d.envelope.headers.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))));
  $("d-envelope").textContent = bodyText(d.envelope.body, false);
}
function bodyText(body, raw) {
  if (body.base64 != null) return "(base64) " + body.base64;
  if (raw) return body.text;
  try { return JSON.stringify(JSON.parse(body.text), null, 2); } catch (_) { return body.text; }
}
$("raw-toggle").addEventListener("click", () => { state.raw = !state.raw; renderDetail(); });
$("back").addEventListener("click", () => show("events"));
$("replay-one").addEventListener("click", async () => {
  const e = state.detail.event;
  try {
    const r = await api("/api/events/" + encodeURIComponent(e.route) + "/" + encodeURIComponent(e.id) + "/replay", { method: "POST" });
    $("replay-result").textContent = "replayed " + r.replayed;
    setTimeout(() => { if (current === "detail") openEvent(e.route, e.id).catch(() => {}); }, 800);
  } catch (err) { $("replay-result").textContent = err.message; }
});

// Rejections: the bounded sample of each route.
async function rejections() {
  const data = await api("/api/overview");
  const box = $("rejection-list");
  box.replaceChildren();
  const all = data.routes.flatMap((r) => r.rejections).sort((a, b) => b.at_ms - a.at_ms);
  for (const r of all) {
    box.append(el("div", { class: "rejection" },
      el("div", { class: "meta" }, when(r.at_ms) + " · " + r.route + " · " + r.status + " " + r.outcome + " · from " + (r.client || "?")),
      el("p", { class: "reason" }, r.reason || r.outcome),
      el("table", { class: "kv" }, el("tbody", {}, ...r.headers.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))))));
  }
  if (!all.length) box.append(el("p", { class: "muted" }, "No refused requests recently."));
}

// Dead letters: replay one, a selection, or all of a route.
async function dead() {
  const q = new URLSearchParams({ state: "dead", limit: "200" });
  if ($("d-route").value) q.set("route", $("d-route").value);
  const data = await api("/api/events?" + q);
  $("dead-table").tBodies[0].replaceChildren(...data.events.map((e) => el("tr", {},
    el("td", {}, el("input", { type: "checkbox", class: "pick", "data-route": e.route, "data-id": e.id, "aria-label": "select " + e.id })),
    el("td", {}, when(e.received)), el("td", {}, e.route),
    el("td", {}, el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); openEvent(e.route, e.id); } }, e.id)),
    el("td", {}, e.attempts), el("td", {}, e.last_status || "—"), el("td", {}, e.dead_reason || ""))));
  if (!data.events.length) $("dead-table").tBodies[0].append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No dead letters.")));
}
$("d-route").addEventListener("change", dead);
$("select-all").addEventListener("change", (e) => { for (const c of document.querySelectorAll("input.pick")) c.checked = e.target.checked; });
$("replay-selected").addEventListener("click", async () => {
  const picked = [...document.querySelectorAll("input.pick:checked")];
  const byRoute = {};
  for (const c of picked) (byRoute[c.dataset.route] = byRoute[c.dataset.route] || []).push(c.dataset.id);
  let n = 0;
  for (const [route, ids] of Object.entries(byRoute)) n += (await api("/api/replay", { method: "POST", body: JSON.stringify({ route, ids }) })).replayed;
  $("dead-result").textContent = "replayed " + n;
  setTimeout(dead, 800);
});
$("replay-all").addEventListener("click", async () => {
  const route = $("d-route").value;
  if (!route) { $("dead-result").textContent = "choose a route first"; return; }
  const r = await api("/api/replay", { method: "POST", body: JSON.stringify({ route, state: "dead" }) });
  $("dead-result").textContent = "replayed " + r.replayed;
  setTimeout(dead, 800);
});

async function refresh(tab) {
  try {
    if (tab === "overview") await overview();
    if (tab === "events") await events(state.cursors[state.cursors.length - 1]);
    if (tab === "rejections") await rejections();
    if (tab === "dead") await dead();
  } catch (e) { if (e.message !== "unauthorized") console.warn(e); }
}
async function refreshAll() { try { await routes(); } catch (_) {} refresh(current); }

// Live: the outcome stream (server-sent events read with fetch, so the token can be sent).
let pending = null, pendingDetail = null;
async function openStream() {
  try {
    const headers = state.token ? { authorization: "Bearer " + state.token } : {};
    const r = await fetch("/api/stream", { headers });
    if (!r.ok) { $("live").className = "live off"; if (r.status === 401) showLogin(); return; }
    $("live").className = "live on";
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let i;
      while ((i = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (chunk.startsWith("data: ")) {
          let seen = null;
          try { seen = JSON.parse(chunk.slice(6)); } catch (_) {}
          onOutcome(seen);
        }
      }
    }
  } catch (_) {}
  $("live").className = "live off";
  setTimeout(openStream, 2000);
}
// Something happened: refresh what is shown, at most every half second. The detail of an event is
// refreshed only when the outcome is about that event (a replay delivered, a retry failed).
function onOutcome(seen) {
  if (current === "detail") {
    const e = state.detail && state.detail.event;
    if (!e || !seen || seen.route !== e.route || seen.event_id !== e.id || seen.source !== "delivery") return;
    if (pendingDetail) return;
    pendingDetail = setTimeout(() => { pendingDetail = null; openEvent(e.route, e.id).catch(() => {}); }, 200);
    return;
  }
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(current); }, 500);
}

refreshAll();
openStream();
setInterval(() => { if (current === "overview") refresh("overview"); }, 15000);
