// parcelguard console: a hash-routed single page over the JSON API.
//
// Why it is built this way:
// - Every figure comes from the API with the caller's own key, so the
//   console can show nothing the key could not fetch itself; the server's
//   role checks are the only gate (the menu merely hides what /v1/me says
//   the role may not open).
// - All text goes into the page through textContent, never innerHTML, so
//   nothing from the log or the database can become markup.
// - The key lives in sessionStorage: it is gone when the tab closes.
// - "Verify" re-checks a receipt here, independently of the server: the
//   RFC 9162 inclusion proof with WebCrypto's SHA-256 and the checkpoint's
//   Ed25519 signature against the log's published verifier key.
"use strict";

const KEY = "parcelguard.key";
let me = null;

// ---------- DOM and API helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    // The CSP refuses style attributes; CSSOM assignments are allowed.
    else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class ApiFailure extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_" + status;
  }
}

async function api(path, opts = {}) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = "Bearer " + key;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const r = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-store" });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!r.ok) throw new ApiFailure(r.status, json);
  return opts.text ? text : json;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}

function failure(e) {
  if (e instanceof ApiFailure && e.status === 401) {
    sessionStorage.removeItem(KEY);
    me = null;
    return login("Your key was not accepted (expired, revoked or unknown).");
  }
  const what = e instanceof ApiFailure && e.status === 403
    ? "Your role may not open this page."
    : e.message;
  show(el("h1", {}, "Not available"), el("p", { class: "error", id: "page-error" }, what));
}

const fmtNum = (n) => Number(n).toLocaleString("en-US");
const shortTs = (ts) => (ts || "").replace("T", " ").replace(/\.\d+Z$|Z$/, "");
const badge = (text, cls) => el("span", { class: "badge " + (cls || text) }, text);
const link = (href, text) => el("a", { href }, text);

// ---------- charts (SVG drawn here from the API's numbers) ----------

// SVG presentation attributes do not take CSS variables everywhere.
const C = { allow: "#2f9e61", deny: "#d4533b", accent: "#1f5fbf", peer: "#98a2b3", warn: "#b7791f" };

// The charts draw TICKS gridlines; a top of 1, 2 or 5 times a power of
// ten (at least TICKS) keeps every gridline label a whole number.
const TICKS = 5;
function niceMax(v) {
  if (v <= TICKS) return TICKS;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v && (m * p) % TICKS === 0) return m * p;
  return 10 * p;
}

// Stacked bars per hour: allowed below, denied above.
function revealChart(rows) {
  const W = 720, H = 220, L = 40, B = 24, T = 8;
  const max = niceMax(Math.max(1, ...rows.map((r) => r.allow + r.deny)));
  const bw = (W - L - 4) / Math.max(rows.length, 1);
  const y = (v) => H - B - (v / max) * (H - B - T);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "reveals per hour" });
  for (let i = 0; i <= TICKS; i++) {
    const v = (max / TICKS) * i;
    g.append(svg("line", { x1: L, x2: W, y1: y(v), y2: y(v), stroke: "#e3e6eb" }),
      svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, fmtNum(Math.round(v))));
  }
  rows.forEach((r, i) => {
    const x = L + 2 + i * bw;
    const title = `${shortTs(r.hour)}: ${r.allow} allowed, ${r.deny} denied`;
    g.append(svg("rect", { x, y: y(r.allow), width: Math.max(bw - 2, 1), height: y(0) - y(r.allow), fill: C.allow }, svg("title", {}, title)));
    g.append(svg("rect", { x, y: y(r.allow + r.deny), width: Math.max(bw - 2, 1), height: y(r.allow) - y(r.allow + r.deny), fill: C.deny }, svg("title", {}, title)));
    if (i % 4 === 0) g.append(svg("text", { x: x + bw / 2, y: H - 8, "text-anchor": "middle" }, (r.hour || "").slice(11, 16)));
  });
  return el("div", {}, g, el("div", { class: "legend" },
    el("span", {}, el("i", { style: "background:var(--allow)" }), "allowed"),
    el("span", {}, el("i", { style: "background:var(--deny)" }), "denied")));
}

// The actor's accesses per hour as bars, the peers' median and p90 as lines.
function timelineChart(t) {
  const rows = t.hours;
  const W = 720, H = 240, L = 40, B = 24, T = 8;
  const max = niceMax(Math.max(1, ...rows.map((r) => Math.max(r.actor, r.peer_p90))));
  const bw = (W - L - 4) / Math.max(rows.length, 1);
  const y = (v) => H - B - (v / max) * (H - B - T);
  const cx = (i) => L + 2 + i * bw + bw / 2;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "actor against peers", id: "timeline-chart" });
  for (let i = 0; i <= TICKS; i++) {
    const v = (max / TICKS) * i;
    g.append(svg("line", { x1: L, x2: W, y1: y(v), y2: y(v), stroke: "#e3e6eb" }),
      svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, fmtNum(Math.round(v))));
  }
  rows.forEach((r, i) => {
    const x = L + 2 + i * bw;
    const raised = r.hour === t.raised_at_hour;
    g.append(svg("rect", { x, y: y(r.actor), width: Math.max(bw - 2, 1), height: y(0) - y(r.actor), fill: raised ? C.deny : C.accent },
      svg("title", {}, `${shortTs(r.hour)}: this actor ${r.actor}; peers median ${r.peer_median}, p90 ${r.peer_p90} (${r.peers} peers)`)));
    if (i % 4 === 0) g.append(svg("text", { x: x + bw / 2, y: H - 8, "text-anchor": "middle" }, (r.hour || "").slice(11, 16)));
  });
  const line = (key, color, dash) => svg("polyline", {
    points: rows.map((r, i) => `${cx(i)},${y(r[key])}`).join(" "),
    fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": dash || "none",
  });
  g.append(line("peer_median", C.peer), line("peer_p90", C.warn, "4 3"));
  return el("div", {}, g, el("div", { class: "legend" },
    el("span", {}, el("i", { style: "background:var(--accent)" }), "this actor"),
    el("span", {}, el("i", { style: "background:var(--deny)" }), "hour raised"),
    el("span", {}, el("i", { style: "background:var(--peer)" }), "peers' median"),
    el("span", {}, el("i", { style: "background:var(--warn)" }), "peers' 90th percentile")));
}

// ---------- receipt verification (RFC 9162 §2.1.3.2, C2SP signed-note) ----------

const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const utf8 = (s) => new TextEncoder().encode(s);
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

function parseCheckpoint(text) {
  const split = text.indexOf("\n\n");
  if (split < 0) throw new Error("checkpoint has no signature block");
  const body = text.slice(0, split + 1);
  const lines = body.split("\n");
  const size = Number(lines[1]);
  if (!Number.isSafeInteger(size)) throw new Error("checkpoint size is not a number");
  const sigs = text.slice(split + 2).split("\n").filter((l) => l.startsWith("\u2014 ")).map((l) => {
    const [, name, sig] = l.split(" ");
    return { name, sig: b64(sig) };
  });
  return { body, origin: lines[0], size, root: b64(lines[2]), sigs };
}

// The audit path check of RFC 9162 §2.1.3.2, step by step.
async function verifyInclusion(index, size, leaf, proof, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1;
  let r = await sha256(cat(new Uint8Array([0]), leaf));
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(cat(new Uint8Array([1]), p, r));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await sha256(cat(new Uint8Array([1]), r, p));
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

// Verifier key `name+hash+base64(0x01 || ed25519 key)`; the signature line
// carries the key hash (4 bytes) then the 64-byte signature.
async function verifyNote(cp, vkey) {
  // Split at the first two '+' only: standard base64 may contain '+'.
  const v = vkey.trim();
  const a = v.indexOf("+"), b = v.indexOf("+", a + 1);
  if (a < 0 || b < 0) throw new Error("verifier key is malformed");
  const [name, hash, keyB64] = [v.slice(0, a), v.slice(a + 1, b), v.slice(b + 1)];
  const raw = b64(keyB64);
  if (raw[0] !== 1 || raw.length !== 33) throw new Error("verifier key is not Ed25519");
  const pub = raw.slice(1);
  const id = (await sha256(cat(utf8(name + "\n"), new Uint8Array([1]), pub))).slice(0, 4);
  if (Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("") !== hash) throw new Error("verifier key hash does not match its key");
  const line = cp.sigs.find((s) => s.name === name && equal(s.sig.slice(0, 4), id));
  if (!line) return { ok: false, why: "no signature by the log's key" };
  const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, line.sig.slice(4), utf8(cp.body));
  return { ok, why: ok ? "" : "signature does not verify" };
}

async function verifyReceipt(receipt) {
  const cp = parseCheckpoint(receipt.checkpoint);
  const proof = receipt.inclusion_proof.map(b64);
  const included = await verifyInclusion(receipt.index, cp.size, b64(receipt.entry), proof, cp.root);
  let signed = { ok: false, why: "not checked" };
  try {
    const vkey = await api("/log/vkey", { text: true });
    signed = await verifyNote(cp, vkey);
  } catch (e) {
    signed = { ok: false, why: e.message };
  }
  return { included, signed, size: cp.size, origin: cp.origin };
}

// ---------- pages ----------

const PAGES = [
  ["dashboard", "Dashboard", "dashboard"],
  ["alerts", "Alerts", "alerts"],
  ["access-log", "Access log", "access_log"],
  ["shipments", "Shipments", "shipments"],
  ["policies", "Policies", "policies"],
];

function drawChrome(current) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...(me ? PAGES.filter(([, , may]) => me.may[may]).map(([id, label]) =>
    el("a", { href: "#/" + id, class: id === current ? "active" : null, id: "nav-" + id }, label)) : []));
  const who = document.getElementById("who");
  who.replaceChildren(...(me ? [`${me.id} · ${me.role}${me.station ? " · " + me.station : ""}`,
    el("button", { class: "secondary", id: "logout", onclick: () => { sessionStorage.removeItem(KEY); me = null; login(); } }, "Log out")] : []));
}

function login(message) {
  drawChrome(null);
  const input = el("input", { type: "password", id: "key", autocomplete: "off", placeholder: "pg_… or an SSO token" });
  const form = el("form", {
    class: "card login", id: "login", onsubmit: async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      try {
        me = await api("/v1/me");
        location.hash = "#/" + (me.may.dashboard ? "dashboard" : "none");
        route();
      } catch (e) {
        sessionStorage.removeItem(KEY);
        me = null;
        login(e instanceof ApiFailure && e.status === 401 ? "That key was not accepted." : e.message);
      }
    },
  },
  el("h1", {}, "Sign in"),
  el("label", { for: "key" }, "API key or SSO token"), input,
  el("button", { type: "submit" }, "Sign in"),
  message ? el("p", { class: "error", id: "login-error" }, message) : null,
  el("p", { class: "muted" }, "The key stays in this tab only. The console never shows personal data."));
  show(form);
  input.focus();
}

async function dashboard() {
  const s = await api("/v1/stats");
  const statusRows = Object.entries(s.shipments.by_status);
  const top = s.top_denial_reasons;
  const topMax = Math.max(1, ...top.map((t) => t.count));
  let cp = null;
  try { cp = s.log ? parseCheckpoint(s.log.checkpoint) : null; } catch (_) { cp = null; }
  show(
    el("h1", {}, "Dashboard"),
    el("div", { class: "grid" },
      el("div", { class: "card", id: "card-shipments" }, el("h2", {}, "Shipments"),
        el("div", { class: "big" }, fmtNum(s.shipments.total)),
        el("table", {}, el("tbody", {}, statusRows.map(([k, n]) => el("tr", {}, el("td", {}, k.replace(/_/g, " ")), el("td", {}, fmtNum(n))))))),
      el("div", { class: "card", id: "card-alerts" }, el("h2", {}, "Unresolved alerts"),
        el("div", { class: "big" }, fmtNum(s.open_alerts)),
        me.may.alerts ? link("#/alerts", "Review alerts →") : el("span", { class: "muted" }, "handled by the security team")),
      el("div", { class: "card", id: "card-log" }, el("h2", {}, "Transparency log"),
        s.log ? [
          el("div", { class: "big" }, fmtNum(s.log.size), el("span", { class: "muted" }, " entries")),
          cp ? el("p", {}, "Last checkpoint: ", el("b", {}, fmtNum(cp.size)), " entries, origin ", el("code", {}, cp.origin)) : null,
          cp ? el("p", { class: "muted" }, "Signed by: ", cp.sigs.map((x) => x.name).join(", ") || "nobody",
            cp.sigs.length > 1 ? ` (${cp.sigs.length - 1} witness cosignature${cp.sigs.length > 2 ? "s" : ""})` : " (no witness cosignatures)") : null,
        ] : el("p", { class: "muted" }, "this server keeps no log")),
      el("div", { class: "card wide", id: "card-reveals" }, el("h2", {}, "Reveals per hour (last 24 h)"), revealChart(s.reveals_per_hour)),
      el("div", { class: "card wide", id: "card-denials" }, el("h2", {}, "Top denial reasons (24 h)"),
        top.length ? el("div", { class: "bars" }, top.map((t) => [
          el("code", {}, t.reason),
          el("div", { class: "bar", style: `width:${Math.max(2, (100 * t.count) / topMax)}%` }),
          el("span", {}, fmtNum(t.count)),
        ])) : el("p", { class: "muted" }, "no denials"))));
}

async function alerts() {
  const status = new URLSearchParams(location.hash.split("?")[1] || "").get("status") || "open";
  const r = await api("/v1/alerts" + query({ status: status === "all" ? "" : status, limit: 200 }));
  const select = el("select", { id: "alert-status", onchange: () => { location.hash = "#/alerts?status=" + select.value; } },
    ["open", "acknowledged", "resolved", "all"].map((v) => el("option", { value: v, selected: v === status }, v)));
  show(
    el("h1", {}, "Alerts"),
    el("form", { class: "filters" }, el("label", {}, "Status", select)),
    r.alerts.length === 0 ? el("p", { class: "muted", id: "no-alerts" }, "No alerts.") :
      el("div", { class: "card scroll" }, el("table", { id: "alerts" },
        el("thead", {}, el("tr", {}, ["Severity", "Score", "Actor", "Role", "Station", "Raised", "Status", "Top reason"].map((h) => el("th", {}, h)))),
        el("tbody", {}, r.alerts.map((a) => el("tr", {},
          el("td", {}, badge(a.severity)),
          el("td", {}, Number(a.score).toFixed(2)),
          el("td", {}, link("#/alerts/" + encodeURIComponent(a.id), a.actor)),
          el("td", {}, a.role || ""), el("td", {}, a.station || ""),
          el("td", {}, shortTs(a.raised_at)), el("td", {}, a.status),
          el("td", {}, (a.reasons && a.reasons[0]) || "")))))));
}

async function alertPage(id) {
  const [{ alert: a }, t] = await Promise.all([
    api("/v1/alerts/" + encodeURIComponent(id)),
    api("/v1/alerts/" + encodeURIComponent(id) + "/timeline"),
  ]);
  const note = el("input", { id: "note", placeholder: "note (no personal data)" });
  const verdict = el("select", { id: "verdict" }, ["malicious", "benign", "inconclusive"].map((v) => el("option", { value: v }, v)));
  const msg = el("p", { id: "alert-action" });
  const act = async (path, body) => {
    try {
      await api("/v1/alerts/" + encodeURIComponent(id) + path, { method: "POST", body });
      await alertPage(id);
    } catch (e) {
      msg.className = "error";
      msg.textContent = e.message;
    }
  };
  const logEvidence = a.evidence_kind === "log_index";
  show(
    el("h1", {}, "Alert ", el("code", {}, a.id)),
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", {}, "Who and how bad"),
        el("p", {}, badge(a.severity), " score ", el("b", {}, Number(a.score).toFixed(2)), ` (${Number(a.points).toFixed(1)} points)`),
        el("p", {}, "Actor ", el("code", { id: "alert-actor" }, a.actor), ` · ${a.role || "?"}${a.station ? " · " + a.station : ""}`),
        el("p", { class: "muted" }, `raised ${shortTs(a.raised_at)}; activity ${shortTs(a.first_event)} – ${shortTs(a.last_event)}`),
        el("p", {}, "Status: ", el("b", { id: "alert-status-value" }, a.status), a.verdict ? ` (verdict: ${a.verdict})` : "")),
      el("div", { class: "card span2" }, el("h2", {}, "Why"),
        el("ul", { class: "reasons", id: "alert-reasons" }, (a.reasons || []).map((x) => el("li", {}, x))),
        el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, ["signal", "observed", "expected", "points"].map((h) => el("th", {}, h)))),
          el("tbody", {}, (a.signals || []).map((sg) => el("tr", {}, el("td", {}, sg.signal), el("td", {}, fmtNum(sg.observed)),
            el("td", {}, Number(sg.expected).toFixed(1)), el("td", {}, Number(sg.points).toFixed(1)))))))),
      el("div", { class: "card wide" }, el("h2", {}, "Activity per hour against same-role peers"), timelineChart(t)),
      el("div", { class: "card" }, el("h2", {}, "Evidence"),
        el("p", { class: "muted" }, logEvidence ? "transparency-log entries behind the reasons" : "line numbers in the replayed file"),
        el("ul", { id: "evidence" }, (a.evidence || []).map((i) => el("li", {}, logEvidence ? link("#/entry/" + i, "entry " + i) : "line " + i)))),
      el("div", { class: "card" }, el("h2", {}, "Work it"),
        el("div", { class: "row" }, note),
        el("div", { class: "row", style: "margin-top:.5rem" },
          el("button", { id: "ack", disabled: a.status !== "open", onclick: () => act("/ack", note.value ? { note: note.value } : {}) }, "Acknowledge"),
          verdict,
          el("button", { id: "resolve", disabled: a.status === "resolved", onclick: () => act("/resolve", { verdict: verdict.value, note: note.value || null }) }, "Resolve")),
        msg)));
}

async function accessLog() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const fields = ["actor", "waybill_no", "purpose", "decision", "action"];
  const inputs = Object.fromEntries(fields.map((f) => [f, f === "decision"
    ? el("select", { name: f, id: "f-" + f }, ["", "allow", "deny"].map((v) => el("option", { value: v, selected: params.get(f) === v }, v || "any")))
    : el("input", { name: f, id: "f-" + f, value: params.get(f) || "", size: 14 })]));
  const q = Object.fromEntries(fields.map((f) => [f, params.get(f) || ""]));
  const r = await api("/v1/access-log" + query({ ...q, before: params.get("before") || "", limit: 100 }));
  const search = (extra) => {
    const p = new URLSearchParams();
    for (const f of fields) if (inputs[f].value) p.set(f, inputs[f].value);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    location.hash = "#/access-log?" + p.toString();
  };
  show(
    el("h1", {}, "Access log"),
    el("form", { class: "filters", id: "log-search", onsubmit: (ev) => { ev.preventDefault(); search(); } },
      fields.map((f) => el("label", {}, f.replace("_", " "), inputs[f])),
      el("button", { type: "submit" }, "Search")),
    el("div", { class: "card scroll" }, el("table", { id: "log" },
      el("thead", {}, el("tr", {}, ["#", "time", "actor", "role", "action", "waybill", "field", "purpose", "decision", "reason"].map((h) => el("th", {}, h)))),
      el("tbody", {}, r.entries.map((e) => el("tr", {},
        el("td", {}, link("#/entry/" + e.index, String(e.index))),
        el("td", {}, shortTs(e.ts)), el("td", {}, e.actor), el("td", {}, e.role || ""), el("td", {}, e.action),
        el("td", {}, e.waybill_no || ""), el("td", {}, e.party && e.field ? `${e.party}.${e.field}` : (e.field || "")),
        el("td", {}, e.purpose || ""), el("td", {}, e.decision ? badge(e.decision) : ""), el("td", {}, e.reason || "")))))),
    r.entries.length === 0 ? el("p", { class: "muted" }, "Nothing matches.") : null,
    el("div", { class: "pager" }, r.next_before !== null && r.next_before !== undefined
      ? el("button", { class: "secondary", id: "older", onclick: () => search({ before: r.next_before }) }, "Older →") : null));
}

async function entryPage(index) {
  const receipt = await api("/v1/log/receipt/" + encodeURIComponent(index));
  let decoded;
  try { decoded = JSON.stringify(JSON.parse(new TextDecoder().decode(b64(receipt.entry))), null, 2); } catch (_) { decoded = "(entry is not JSON)"; }
  const result = el("p", { id: "verify-result", class: "muted" }, "Not verified yet.");
  const verify = el("button", {
    id: "verify", onclick: async () => {
      verify.disabled = true;
      result.className = "muted";
      result.textContent = "Checking…";
      try {
        const v = await verifyReceipt(receipt);
        const good = v.included && v.signed.ok;
        result.className = good ? "ok" : "error";
        result.textContent = good
          ? `Verified: entry ${receipt.index} is included in the signed checkpoint of ${fmtNum(v.size)} entries (${v.origin}).`
          : `Not verified: ${v.included ? "" : "the inclusion proof does not lead to the checkpoint's root. "}${v.signed.ok ? "" : "Checkpoint signature: " + v.signed.why + "."}`;
      } catch (e) {
        result.className = "error";
        result.textContent = "Could not verify: " + e.message;
      }
      verify.disabled = false;
    },
  }, "Verify in this browser");
  show(
    el("h1", {}, "Log entry ", el("code", {}, String(receipt.index))),
    el("div", { class: "grid" },
      el("div", { class: "card wide" }, el("h2", {}, "Entry"), el("pre", { id: "entry-json" }, decoded)),
      el("div", { class: "card wide" }, el("h2", {}, "Receipt"),
        el("p", {}, verify), result,
        el("p", { class: "muted" }, `Inclusion proof: ${receipt.inclusion_proof.length} hashes. Checkpoint:`),
        el("pre", { id: "checkpoint" }, receipt.checkpoint))));
}

async function shipments() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = params.get("status") || "";
  const r = await api("/v1/shipments" + query({ status, after: params.get("after") || "", limit: 50 }));
  const select = el("select", { id: "ship-status", onchange: () => { location.hash = "#/shipments" + query({ status: select.value }); } },
    ["", "created", "picked_up", "in_transit", "out_for_delivery", "delivered", "returned"].map((v) => el("option", { value: v, selected: v === status }, v || "any")));
  show(
    el("h1", {}, "Shipments"),
    el("form", { class: "filters" }, el("label", {}, "Status", select)),
    el("div", { class: "card scroll" }, el("table", { id: "shipments" },
      el("thead", {}, el("tr", {}, ["waybill", "carrier", "status", "recipient", "phone", "address", "courier", "window ends"].map((h) => el("th", {}, h)))),
      el("tbody", {}, r.shipments.map((s) => el("tr", {},
        el("td", { class: "mono" }, s.waybill_no), el("td", {}, s.carrier), el("td", {}, s.status.replace(/_/g, " ")),
        el("td", {}, s.recipient.name), el("td", { class: "mono" }, s.recipient.phone), el("td", {}, s.recipient.address),
        el("td", {}, s.courier || ""), el("td", {}, s.delivery_window ? shortTs(s.delivery_window.end) : "")))))),
    el("p", { class: "muted" }, "Masked per GB/T 41833-2022; plaintext is only ever revealed through POST /v1/reveal, and logged."),
    el("div", { class: "pager" }, r.next_after ? el("button", { class: "secondary", id: "next", onclick: () => { location.hash = "#/shipments" + query({ status, after: r.next_after }); } }, "Next →") : null));
}

async function policies() {
  const [p, h] = await Promise.all([api("/v1/policies"), api("/v1/policies/history")]);
  show(
    el("h1", {}, "Policies"),
    el("p", {}, "In force: version ", el("code", { id: "policy-version" }, p.version), ` · ${p.policies} policies in ${p.files.length} files (read-only here; change them in the repository and reload).`),
    el("div", { class: "card scroll" }, el("h2", {}, "History"),
      h.changes.length === 0 ? el("p", { class: "muted" }, "No changes since the log began.") :
        el("table", { id: "policy-history" }, el("thead", {}, el("tr", {}, ["entry", "time", "by", "version", "replaced"].map((x) => el("th", {}, x)))),
          el("tbody", {}, h.changes.map((c) => el("tr", {}, el("td", {}, link("#/entry/" + c.index, String(c.index))), el("td", {}, shortTs(c.ts)),
            el("td", {}, c.actor), el("td", {}, el("code", {}, c.version || "")), el("td", {}, el("code", {}, c.previous || ""))))))),
    p.files.map((f) => el("div", { class: "card", style: "margin-top:1rem" }, el("h2", {}, f.file), el("pre", {}, f.text))));
}

function nothing() {
  show(el("h1", {}, "Nothing here for your role"),
    el("p", { id: "no-pages" }, `A ${me.role} key works with the API and the apps; the console's pages are for station managers and the security team.`));
}

async function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path] = hash.split("?");
  const [page, arg] = path.split("/");
  if (!sessionStorage.getItem(KEY)) return login();
  try {
    if (!me) me = await api("/v1/me");
  } catch (e) {
    return failure(e);
  }
  drawChrome(page === "entry" ? "access-log" : page);
  try {
    switch (page) {
      case "": case "dashboard": return me.may.dashboard ? await dashboard() : nothing();
      case "alerts": return arg ? await alertPage(decodeURIComponent(arg)) : await alerts();
      case "access-log": return await accessLog();
      case "entry": return await entryPage(arg);
      case "shipments": return await shipments();
      case "policies": return await policies();
      case "none": return nothing();
      default: return show(el("h1", {}, "No such page"));
    }
  } catch (e) {
    return failure(e);
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
