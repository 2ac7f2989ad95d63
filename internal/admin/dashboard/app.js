// tether's live dashboard: polls the admin API once a second and draws
// target groups (state, load, affinity) and edge caches (hit ratio, size).
// Everything is built with textContent, never from HTML strings.
"use strict";

const POLL_MS = 1000;
const HISTORY = 60; // samples kept for the sparklines: one minute

// Previous samples, for rates: key → {t, v}.
const last = new Map();
// Recent rates per group or edge, for the sparklines: key → [rate…].
const history = new Map();

// rate returns the per-second increase of counter v under key since the
// previous poll, or null on the first one. A counter that went down (a
// restart or a rebuilt cache) restarts the rate.
function rate(key, v, t) {
  const prev = last.get(key);
  last.set(key, { t, v });
  if (!prev || v < prev.v || t <= prev.t) return null;
  return (v - prev.v) / ((t - prev.t) / 1000);
}

function remember(key, r) {
  const h = history.get(key) || [];
  h.push(r || 0);
  while (h.length > HISTORY) h.shift();
  history.set(key, h);
  return h;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "title") e.title = v;
    else if (k === "style") Object.assign(e.style, v); // CSSOM: allowed by the page's CSP
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const fmtInt = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const fmt1 = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });

function perSecond(r) {
  if (r === null) return "–";
  if (r >= 1000) return fmt1.format(r / 1000) + "k";
  return r >= 10 ? fmtInt.format(r) : fmt1.format(r);
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? fmtInt.format(n) : fmt1.format(n)) + " " + units[i];
}

function seconds(s) {
  if (s >= 3600) return fmt1.format(s / 3600) + " h";
  if (s >= 60) return fmtInt.format(Math.floor(s / 60)) + " min " + fmtInt.format(s % 60) + " s";
  return fmtInt.format(s) + " s";
}

// spark draws the recent rates as an SVG line with a soft fill.
function spark(values, cls) {
  const ns = "http://www.w3.org/2000/svg";
  const w = 160, h = 36;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "spark " + (cls || ""));
  svg.setAttribute("aria-hidden", "true");
  const top = Math.max(...values, 1);
  const step = w / (HISTORY - 1);
  const x0 = w - (values.length - 1) * step;
  const pts = values.map((v, i) => [x0 + i * step, h - 2 - (v / top) * (h - 6)]);
  const base = document.createElementNS(ns, "line");
  base.setAttribute("x1", "0"); base.setAttribute("x2", String(w));
  base.setAttribute("y1", String(h - 1)); base.setAttribute("y2", String(h - 1));
  base.setAttribute("class", "base");
  svg.append(base);
  if (pts.length > 1) {
    const line = pts.map(p => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("points", `${pts[0][0].toFixed(1)},${h} ${line} ${w},${h}`);
    area.setAttribute("class", "area");
    const poly = document.createElementNS(ns, "polyline");
    poly.setAttribute("points", line);
    poly.setAttribute("class", "line");
    svg.append(area, poly);
  }
  return svg;
}

const STATE_HELP = {
  healthy: "passing health checks",
  initial: "no health check has decided yet; receives traffic",
  unhealthy: "failing health checks; bound clients move to another target",
  draining: "serves only its bound clients until the drain ends",
  drained: "the drain has ended; serves nobody",
};

function tile(label, value, note, cls) {
  return el("div", { class: "tile " + (cls || "") },
    el("div", { class: "label" }, label),
    el("div", { class: "value" }, value),
    el("div", { class: "note" }, note));
}

async function post(url) {
  const r = await fetch(url, { method: "POST" });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new Error(body.error || r.status + " " + r.statusText);
  }
}

function actionButton(g, t) {
  const base = `/api/v1/target-groups/${encodeURIComponent(g.name)}/targets/${encodeURIComponent(t.id)}/`;
  if (t.deregistered) return el("span", { class: "muted" }, "removed");
  const draining = t.state === "draining" || t.state === "drained";
  // data-focus names the button across re-renders, so that keyboard
  // focus stays on it (render puts it back).
  const b = el("button", { class: draining ? "ghost" : "warn", type: "button", "data-focus": "action " + g.name + " " + t.id,
    "aria-label": `${draining ? "Undrain" : "Drain"} ${t.id} in ${g.name}` }, draining ? "Undrain" : "Drain");
  b.addEventListener("click", async () => {
    if (!draining && !confirm(`Drain ${t.id}? It gets no new clients and its bound clients move when the drain ends.`)) return;
    b.disabled = true;
    try { await post(base + (draining ? "undrain" : "drain")); } catch (e) { showProblem(`${draining ? "Undrain" : "Drain"} ${t.id}: ${e.message}`); }
    poll();
  });
  return b;
}

// sticky reports whether a group binds clients to targets.
const sticky = g => !!g.stickiness && g.stickiness !== "none";

// fewBindings reports whether a group's bindings are too few for its
// affinity skew to say anything about the balancing: one client over
// three targets is a skew of 3. Under 4 per target in service, the skew
// is shown but not judged.
function fewBindings(g) {
  const inService = g.targets.filter(t => t.state === "healthy" || t.state === "initial").length;
  const bindings = g.targets.reduce((n, t) => n + (t.bindings || 0), 0);
  return bindings < 4 * inService;
}

function groupCard(g, now) {
  let total = 0, inService = 0, groupRate = 0, known = true;
  const maxBindings = Math.max(1, ...g.targets.map(t => t.bindings));
  const rows = g.targets.map(t => {
    total++;
    if (t.state === "healthy" || t.state === "initial") inService++;
    const r = rate(`t/${g.name}/${t.id}`, t.requests, now);
    if (r === null) known = false; else groupRate += r;
    const failed = t.responses_5xx || 0;
    const r5 = rate(`t5/${g.name}/${t.id}`, failed, now);
    let state = t.state;
    if (t.state === "draining" && t.drain_remaining_seconds) state += " · " + seconds(Math.ceil(t.drain_remaining_seconds));
    const weight = t.effective_weight < t.weight
      ? el("span", { title: "slow start: effective weight of the configured " + t.weight }, fmt1.format(t.effective_weight), el("span", { class: "muted" }, " / " + t.weight))
      : String(t.weight);
    return el("tr", { "data-target": t.id, "data-state": t.state, "data-5xx": String(failed) },
      el("td", {}, el("div", { class: "id" }, t.id), el("div", { class: "addr" }, t.address)),
      el("td", {}, el("span", { class: "pill " + t.state, title: STATE_HELP[t.state] || "" }, state)),
      el("td", { class: "num" }, weight),
      el("td", { class: "num" }, fmtInt.format(t.in_flight)),
      el("td", { class: "num" }, perSecond(r)),
      el("td", { class: "num" + (r5 ? " bad" : ""), title: `${fmtInt.format(failed)} responses with a 5xx status since start` }, perSecond(r5)),
      el("td", { class: "num" }, fmtInt.format(t.requests)),
      el("td", {}, el("div", { class: "bindings" },
        el("div", { class: "bar" }, el("span", { style: { width: `${(100 * t.bindings / maxBindings).toFixed(1)}%` } })),
        el("span", { class: "num" }, fmtInt.format(t.bindings)))),
      el("td", { class: "act" }, actionButton(g, t)));
  });
  const h = remember("g/" + g.name, known ? groupRate : 0);
  const skew = g.affinity_skew || 0;
  const few = skew !== 0 && fewBindings(g);
  const skewCls = skew === 0 || few ? "" : skew <= 1.25 ? "good" : skew <= 2 ? "fair" : "bad";
  const skewNote = few ? "too few bindings to judge"
    : skew !== 0 ? (skew <= 1.25 ? "even" : skew <= 2 ? "somewhat uneven" : "uneven")
    : inService === 0 ? "no target in service" : "no bindings yet";
  return el("section", { class: "card group", "data-group": g.name },
    el("div", { class: "head" },
      el("div", {},
        el("h3", {}, g.name),
        el("div", { class: "chips" },
          g.algorithm && el("span", { class: "chip" }, g.algorithm.replaceAll("_", " ")),
          el("span", { class: "chip" }, sticky(g) ? "sticky: " + g.stickiness.replaceAll("_", " ") : "not sticky"),
          el("span", { class: "chip" }, `${inService} of ${total} in service`),
          g.fail_open && el("span", { class: "chip bad", title: "no target is healthy: requests go to every target not draining" }, "failing open"))),
      el("div", { class: "figures" },
        el("div", { class: "figure" }, el("div", { class: "value" }, known ? perSecond(groupRate) : "–"), el("div", { class: "label" }, "req/s"), spark(h)),
        sticky(g) && el("div", { class: "figure skew " + skewCls, "data-skew": skew.toFixed(2),
          title: "bindings of the busiest target in service over its weight's share of them (1 is even)" },
          el("div", { class: "value" }, skew === 0 ? "–" : fmt1.format(skew) + "×"),
          el("div", { class: "label" }, "affinity skew · " + skewNote)))),
    el("div", { class: "table" }, el("table", {},
      el("thead", {}, el("tr", {}, ...["Target", "State", "Weight", "In flight", "Req/s", "5xx/s", "Requests", "Bindings", ""].map(c => el("th", {}, c)))),
      el("tbody", {}, ...rows))));
}

const RESULTS = [
  ["hit", "hit"], ["stale", "stale"], ["collapsed", "collapsed"], ["revalidated", "revalidated"],
  ["miss", "miss"], ["bypass", "bypass"], ["rejected", "rejected"],
];

function edgeCard(e, now) {
  const req = e.requests || {};
  const served = (req.hit || 0) + (req.stale || 0) + (req.collapsed || 0) + (req.revalidated || 0);
  const looked = served + (req.miss || 0);
  const all = RESULTS.reduce((s, [k]) => s + (req[k] || 0), 0);
  // The hit ratio of the last second when there was traffic, else overall.
  const rServed = rate(`e/${e.name}/served`, served, now), rLooked = rate(`e/${e.name}/looked`, looked, now);
  const rAll = rate(`e/${e.name}/all`, all, now);
  let ratio = null, ratioNote = "of cacheable requests, since start";
  if (rLooked) { ratio = rServed / rLooked; ratioNote = "of cacheable requests, last second"; }
  else if (looked) ratio = served / looked;
  const h = remember("e/" + e.name, rAll || 0);
  const used = e.max_bytes ? Math.min(1, e.bytes / e.max_bytes) : 0;
  // An image to assistive technology, named by its figures; the legend
  // below says the same in text.
  const stack = el("div", { class: "stack", role: "img",
    "aria-label": "requests by result: " + RESULTS.filter(([k]) => req[k]).map(([k, label]) => `${label} ${fmtInt.format(req[k])}`).join(", ") },
    ...RESULTS.filter(([k]) => req[k]).map(([k, label]) =>
      el("span", { class: "seg " + k, style: { width: `${(100 * req[k] / all).toFixed(2)}%` }, title: `${label}: ${fmtInt.format(req[k])}` })));
  const legend = el("div", { class: "legend" },
    ...RESULTS.map(([k, label]) => el("span", { "data-result": k }, el("i", { class: "seg " + k }), `${label} ${fmtInt.format(req[k] || 0)}`)));
  return el("section", { class: "card edge", "data-edge": e.name },
    el("div", { class: "head" },
      el("div", {},
        el("h3", {}, e.name),
        el("div", { class: "chips" },
          el("span", { class: "chip" }, e.url),
          el("span", { class: "chip" + (e.mode === "cloudfront" ? " warn" : ""), title: e.mode === "cloudfront" ? "reproduces CloudFront, leaks included" : "RFC 9111 with tether's guardrails" }, "mode: " + e.mode),
          el("span", { class: "chip" }, "origin " + e.origin))),
      el("div", { class: "figures" },
        el("div", { class: "figure" }, el("div", { class: "value" }, perSecond(rAll)), el("div", { class: "label" }, "req/s"), spark(h, "edge")),
        el("div", { class: "figure ratio " + (ratio === null ? "" : ratio >= 0.8 ? "good" : ratio >= 0.5 ? "fair" : "bad"), "data-hit-ratio": ratio === null ? "" : ratio.toFixed(3) },
          el("div", { class: "value" }, ratio === null ? "–" : fmtInt.format(100 * ratio) + "%"),
          el("div", { class: "label" }, "hit ratio · " + ratioNote)))),
    el("div", { class: "rows" },
      el("div", { class: "row" },
        el("div", { class: "label" }, "Requests by result"),
        all ? stack : el("div", { class: "muted" }, "no requests yet"),
        legend),
      el("div", { class: "row" },
        el("div", { class: "label" }, "Cache"),
        el("div", { class: "bar big" }, el("span", { style: { width: `${(100 * used).toFixed(1)}%` } })),
        el("div", { class: "legend" },
          el("span", {}, `${bytes(e.bytes)} of ${bytes(e.max_bytes)}`),
          el("span", {}, `${fmtInt.format(e.objects)} objects`),
          el("span", {}, `${fmtInt.format(e.evictions)} evicted`),
          el("span", {}, `${bytes((e.response_bytes || {}).cache || 0)} sent from cache, ${bytes((e.response_bytes || {}).origin || 0)} from the origin`)))));
}

function showProblem(text) {
  const p = document.getElementById("problem");
  p.textContent = text;
  p.hidden = !text;
}

// A poll that gets no answer within FETCH_MS fails, so that a hung admin
// API shows as disconnected rather than as live with old figures.
const FETCH_MS = 4000;

async function getJSON(url) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), FETCH_MS);
  try {
    const r = await fetch(url, { cache: "no-store", signal: ctl.signal });
    if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
    return await r.json();
  } catch (e) {
    if (e.name === "AbortError") throw new Error(`${url}: no answer within ${FETCH_MS / 1000} s`);
    throw e;
  } finally {
    clearTimeout(t);
  }
}

let timer = null;

async function poll() {
  clearTimeout(timer);
  const now = Date.now();
  try {
    const [tg, ed] = await Promise.all([getJSON("/api/v1/target-groups"), getJSON("/api/v1/edges")]);
    render(tg.target_groups || [], ed.edges || [], now);
    document.getElementById("dot").className = "dot on";
    document.getElementById("updated").textContent = "live · " + new Date(now).toLocaleTimeString();
    if (document.getElementById("problem").dataset.poll) showProblem("");
    document.querySelector("main").classList.remove("stale");
  } catch (e) {
    document.getElementById("dot").className = "dot off";
    document.getElementById("updated").textContent = "disconnected · retrying";
    showProblem("Cannot reach the admin API: " + e.message);
    document.getElementById("problem").dataset.poll = "1";
    // The figures shown are the last ones known: dimmed, and no action
    // (the next good reading draws the buttons afresh).
    document.querySelector("main").classList.add("stale");
    document.querySelectorAll("main button").forEach(b => { b.disabled = true; });
  }
  timer = setTimeout(poll, POLL_MS);
}

function render(groups, edges, now) {
  const gs = groups.map(g => groupCard(g, now));
  const es = edges.map(e => edgeCard(e, now));
  let targets = 0, inService = 0, inFlight = 0, total = 0, known = true, failed = 0;
  for (const g of groups) {
    for (const t of g.targets) {
      targets++;
      if (t.state === "healthy" || t.state === "initial") inService++;
      inFlight += t.in_flight;
      failed += t.responses_5xx || 0;
    }
    const h = history.get("g/" + g.name);
    if (h && h.length > 1) total += h[h.length - 1]; else known = false;
  }
  const count = st => groups.flatMap(g => g.targets).filter(t => t.state === st).length;
  const unhealthy = count("unhealthy"), draining = count("draining") + count("drained");
  const out = [unhealthy && `${unhealthy} unhealthy`, draining && `${draining} draining or drained`].filter(Boolean);
  const tiles = [
    tile("Requests / s", known && groups.length ? perSecond(total) : "–", "through every target group"),
    tile("Targets in service", `${inService} / ${targets}`, out.length ? out.join(", ") : "all passing or starting",
      unhealthy ? "bad" : draining ? "fair" : "good"),
    tile("In flight", fmtInt.format(inFlight), "requests being served now"),
  ];
  const r5 = rate("all/5xx", failed, now);
  tiles.splice(1, 0, tile("5xx / s", perSecond(r5), `${fmtInt.format(failed)} since start`, r5 ? "bad" : r5 === 0 ? "good" : ""));
  const skewed = groups.filter(g => sticky(g) && g.affinity_skew > 0 && !fewBindings(g));
  if (skewed.length) {
    const worst = skewed.reduce((a, g) => g.affinity_skew > a.affinity_skew ? g : a);
    tiles.push(tile("Worst affinity skew", fmt1.format(worst.affinity_skew) + "×", "in " + worst.name + " (1× is even)", worst.affinity_skew <= 1.25 ? "good" : worst.affinity_skew <= 2 ? "" : "bad"));
  }
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focus : undefined;
  document.getElementById("tiles").replaceChildren(...tiles);
  document.getElementById("groups").replaceChildren(...(gs.length ? gs : [el("p", { class: "empty" }, "No target groups in the configuration.")]));
  document.getElementById("edges-title").hidden = !es.length;
  document.getElementById("edges").replaceChildren(...es);
  if (focused) {
    const again = [...document.querySelectorAll("[data-focus]")].find(n => n.dataset.focus === focused);
    if (again) again.focus({ preventScroll: true });
  }
}

poll();
