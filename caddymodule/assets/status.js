// The vram_aware status page: fetches nodes.json and decisions.json next to this page every 2 seconds and
// draws them. Everything in a report is untrusted input, so values are only ever written as text.
"use strict";

const REFRESH_MS = 2000;
const DECISIONS = 50;
const MAX_INSTALLED = 24;

// What each reason means, shown when hovering it.
const REASONS = {
	"resident": "the model is loaded on this node: the wait for a slot plus the request",
	"cached": "the model is loaded here and a slot still holds this conversation's prompt: the prefill saved is taken off",
	"loading": "an earlier request is loading the model here; this one joins that load",
	"fits": "the model loads cold into this node's free GPU memory",
	"make-room": "the model loads cold after Ollama unloads idle models (their reload counts)",
	"spill": "the model does not fit the GPUs and runs partly on the CPU",
	"memory-unknown": "the node did not report its GPU memory; the load was counted as one that makes room",
	"cpu-only": "the node has no GPU; the model runs on its CPU",
	"no-model": "no model named: the shortest wait",
	"no-stats": "no fresh report, and every upstream with one had a hard limit",
	"draining": "the node drains, and nothing else was available",
	"refused": "the node refused the model recently (a retried 500 or 503), and nothing else was available",
	"too-small": "the node cannot hold the model at all, and nothing that can was available",
	"not-installed": "the node lacks the model, and so does every other upstream",
	"tried": "this request was already sent here, and every other upstream was worse",
	"fallback:no-fresh-stats": "no available upstream has a fresh report: the fallback policy chose",
	"fallback:no-candidate": "no upstream is available: the fallback policy chose",
};

// url resolves name next to this page. Credentials typed into the address bar (http://user:pw@host/…) are
// dropped, as fetch refuses URLs that carry them; the browser still sends the basic_auth it holds for the site.
function url(name) {
	const u = new URL(name, document.baseURI);
	u.username = "";
	u.password = "";
	return u;
}

// el builds an element; string children become text nodes, never HTML.
function el(tag, cls, ...children) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	for (const c of children) {
		if (c === null || c === undefined || c === false) continue;
		e.append(c instanceof Node ? c : String(c));
	}
	return e;
}

function known(v) { return typeof v === "number" && isFinite(v); }

function mb(v) {
	if (!known(v)) return "—";
	return v >= 1024 ? (v / 1024).toFixed(1) + " GiB" : Math.round(v) + " MiB";
}

function age(s) {
	if (!known(s)) return "—";
	if (s < 0) return "from the future";
	if (s < 60) return s.toFixed(1) + " s ago";
	if (s < 3600) return Math.floor(s / 60) + " min ago";
	return Math.floor(s / 3600) + " h ago";
}

function pill(text, cls) { return el("span", "pill " + (cls || ""), text); }

function gpuView(g) {
	const total = g.memory_total_mb, used = known(g.memory_used_mb) ? g.memory_used_mb :
		known(total) && known(g.memory_free_mb) ? total - g.memory_free_mb : null;
	const bar = el("div", "bar");
	if (known(total) && total > 0 && known(used)) {
		const pct = Math.min(100, Math.max(0, 100 * used / total));
		const fill = el("div", pct >= 90 ? "full" : pct >= 70 ? "high" : "");
		fill.style.width = pct.toFixed(1) + "%";
		bar.append(fill);
		bar.title = mb(used) + " of " + mb(total) + " used";
	} else {
		bar.classList.add("unknown");
		bar.title = "memory not reported";
	}
	const facts = [];
	if (known(g.utilization_percent)) facts.push(Math.round(g.utilization_percent) + "% busy");
	if (known(g.temperature_c)) facts.push(Math.round(g.temperature_c) + " °C");
	if (known(g.power_w)) facts.push(Math.round(g.power_w) + " W");
	return el("div", "gpu",
		el("div", "gpu-line", el("span", "", "GPU " + g.index + (g.name ? " · " + g.name : "")), el("span", "", facts.join(" · "))),
		bar,
		el("div", "gpu-line", el("span", "", mb(used) + " / " + mb(total) + " used"),
			el("span", "", mb(g.memory_free_mb) + " free")));
}

function modelsView(o) {
	const box = el("div", "models");
	if (!o) return box;
	if (!o.reachable) {
		box.append(el("div", "note", "Ollama did not answer the reporter"));
		return box;
	}
	const loaded = o.loaded || [];
	box.append(el("h4", "", "Loaded (" + loaded.length + ")"));
	if (loaded.length === 0) box.append(el("div", "muted", "none"));
	const ul = el("ul", "");
	for (const m of loaded) {
		let where = mb(m.size_vram_mb) + " in VRAM";
		if (m.size_vram_mb === 0) where = mb(m.size_mb) + " on CPU";
		else if (m.size_vram_mb < m.size_mb) where += " of " + mb(m.size_mb);
		ul.append(el("li", "", el("span", "", m.name), el("span", "", where)));
	}
	box.append(ul);
	if (Array.isArray(o.installed)) {
		box.append(el("h4", "", "Installed (" + o.installed.length + ")"));
		const names = new Set(loaded.map((m) => m.name));
		const chips = el("div", "chips");
		for (const m of o.installed.slice(0, MAX_INSTALLED)) {
			const c = el("span", "chip" + (names.has(m.name) ? " loaded" : ""), m.name);
			c.title = mb(m.size_mb) + " on disk";
			chips.append(c);
		}
		if (o.installed.length > MAX_INSTALLED) chips.append(el("span", "muted", "+" + (o.installed.length - MAX_INSTALLED) + " more"));
		box.append(chips);
	}
	return box;
}

function nodeView(n) {
	const r = n.report || {};
	const card = el("article", "node" + (n.stale ? " stale" : "") + (n.draining ? " draining" : ""));
	card.dataset.node = n.node_id;
	const head = el("div", "node-head", el("h3", "", n.node_id));
	if (n.draining) head.append(pill("draining", "warn"));
	head.append(n.stale ? pill("stale", "bad") : pill("fresh", "ok"));
	card.append(head);
	const meta = [r.vendor || "unknown"];
	if (r.hostname) meta.unshift(r.hostname);
	meta.push("report " + age(n.age_s));
	if (n.total_mb > 0) meta.push(mb(n.free_mb) + " free of " + mb(n.total_mb));
	card.append(el("div", "node-meta", meta.join(" · ")));
	const gpus = r.gpus || [];
	if (gpus.length === 0) card.append(el("div", "muted", "No GPU: CPU only"));
	for (const g of gpus) card.append(gpuView(g));
	if (r.note) card.append(el("div", "note", r.note));
	card.append(modelsView(r.ollama));
	return card;
}

function targetView(t) {
	const rejected = Object.values(t.reports_rejected || {}).reduce((a, b) => a + b, 0);
	const head = el("div", "target-head",
		el("span", "", "Redis ", el("code", "", t.redis + (t.prefix ? " " + t.prefix : ""))),
		t.connected ? pill("connected", "ok") : pill("disconnected", "bad"),
		el("span", "muted", t.reports_accepted + " reports accepted, " + rejected + " rejected · stale after " + t.stale_after));
	if (t.last_error) head.append(el("span", "note", t.last_error));
	const grid = el("div", "nodes");
	// By host name where reports give one (operators know their machines by it), then by node id.
	const name = (n) => ((n.report && n.report.hostname) || "") + " " + n.node_id;
	const nodes = (t.nodes || []).slice().sort((a, b) => name(a).localeCompare(name(b)));
	for (const n of nodes) grid.append(nodeView(n));
	if (nodes.length === 0) grid.append(el("div", "muted", "No reports yet: is gpu-reporter running and publishing to this Redis?"));
	return el("div", "target", head, grid);
}

// polledView shows the upstreams whose Ollama the gateway asks itself (ollama_poll): those without a fresh report.
function polledView(list) {
	const head = el("div", "target-head", el("span", "", "Polled directly ", el("code", "", "ollama_poll")),
		el("span", "muted", "upstreams without a fresh report in Redis: the gateway asks their Ollama itself"));
	const grid = el("div", "nodes");
	for (const p of list.slice().sort((a, b) => a.upstream.localeCompare(b.upstream))) {
		const card = el("article", "node" + (p.state === "ok" ? "" : " stale"));
		card.dataset.node = p.upstream;
		card.append(el("div", "node-head", el("h3", "", p.upstream),
			p.state === "ok" ? pill("ok", "ok") : pill(p.state.replace("_", " "), p.state === "pending" ? "" : "bad")));
		const meta = ["every " + p.interval];
		if (p.last_poll) meta.push("asked " + age((Date.now() - new Date(p.last_poll)) / 1000));
		card.append(el("div", "node-meta", meta.join(" · ")));
		if (p.last_error) card.append(el("div", "note", p.last_error));
		if (p.report) {
			for (const g of p.report.gpus || []) card.append(gpuView(g));
			card.append(modelsView(p.report.ollama));
		}
		grid.append(card);
	}
	return el("div", "target", head, grid);
}

let seen = new Set();

function decisionRow(d, fresh) {
	const t = new Date(d.time);
	const time = t.toLocaleTimeString([], { hour12: false }) + "." + String(t.getMilliseconds()).padStart(3, "0");
	const reason = el("span", "reason" + (d.reason.startsWith("fallback:") ? " fallback" : d.reason === "resident" || d.reason === "cached" ? " resident" : ""), d.reason);
	reason.title = REASONS[d.reason] || "";
	// Where the node's stats came from, when not from a reporter through Redis (an Ollama the gateway polls).
	if (d.source && d.source !== "redis") reason.append(el("span", "muted", " · " + d.source));
	const up = d.node && d.node !== d.upstream ? d.upstream + " (" + d.node + ")" : d.upstream;
	const tr = el("tr", fresh ? "new" : "",
		el("td", "time", time), el("td", "", d.model || "—"), el("td", "", up), el("td", "", reason),
		estimateCell(d),
		el("td", "num", mb(d.free_mb) + (d.reserved_mb > 0 ? " (" + mb(d.reserved_mb) + " reserved)" : "")));
	tr.dataset.reason = d.reason;
	return tr;
}

// estimateCell shows when the request was expected to be answered, its terms on hover, and the facts that were
// defaults.
function estimateCell(d) {
	if (d.reason.startsWith("fallback:") || !known(d.seconds)) return el("td", "num", "—");
	const td = el("td", "num", d.seconds.toFixed(1) + " s");
	td.title = "wait " + d.wait_s.toFixed(1) + " s + load " + d.load_s.toFixed(1) + " s + run " + d.run_s.toFixed(1) + " s" +
		(d.saved_s ? " − prefill saved " + d.saved_s.toFixed(1) + " s" : "") + (d.evict_s ? " + prefill it costs the conversations held there " + d.evict_s.toFixed(1) + " s" : "") + (d.defaults ? "; defaults: " + d.defaults : "");
	if (d.defaults) td.append(el("span", "muted", " *"));
	return td;
}

// learnedView shows what the policy learned of each upstream: how long a request takes there per GiB of its model,
// how fast it loads models.
function learnedView(list) {
	const rows = list.map((u) => el("tr", "", el("td", "", u.upstream),
		el("td", "num", u.seconds_per_gib > 0 ? u.seconds_per_gib.toFixed(2) + " s" : "— (the others', or the default)"),
		el("td", "num", u.gib.toFixed(1) + " GiB"),
		el("td", "num", u.load_mbps > 0 ? mb(u.load_mbps) + "/s" : "— (the others', or the default)")));
	const table = el("table", "", el("thead", "", el("tr", "", el("th", "", "upstream"), el("th", "num", "request time per GiB of model"),
		el("th", "num", "over"), el("th", "num", "load speed"))), el("tbody", "", ...rows));
	return el("div", "target", el("div", "target-head", el("span", "", "Learned"),
		el("span", "muted", "per upstream, over the last minutes")), table);
}

// gatewaysView shows, per Redis target shared with other gateways (share_state), this gateway's id and the
// others it reads: their age and requests in flight.
function gatewaysView(t) {
	const rows = t.others.map((g) => el("tr", "", el("td", "", g.id), el("td", "num", age(g.age_s)),
		el("td", "", Object.entries(g.in_flight || {}).map(([u, n]) => u + ": " + n).join(", ") || "—"),
		el("td", "num", String(g.pending_loads))));
	const table = el("table", "", el("thead", "", el("tr", "", el("th", "", "other gateway"), el("th", "num", "age"),
		el("th", "", "requests in flight"), el("th", "num", "pending loads"))), el("tbody", "", ...rows));
	return el("div", "target", el("div", "target-head", el("span", "", "Gateways"),
		el("span", "muted", "this one: " + t.id + " · every " + t.interval + ", TTL " + t.ttl),
		t.connected ? pill("sharing", "ok") : pill("deciding alone", "bad")), table);
}

function drawDecisions(list) {
	const key = (d) => d.time + " " + d.upstream;
	const first = seen.size === 0;
	const rows = list.map((d) => decisionRow(d, !first && !seen.has(key(d))));
	seen = new Set(list.map(key));
	document.querySelector("#decisions tbody").replaceChildren(...rows);
	document.getElementById("decisions").hidden = list.length === 0;
	document.getElementById("no-decisions").hidden = list.length > 0;
}

function setState(text, cls) {
	const s = document.getElementById("state");
	s.textContent = text;
	s.className = "pill " + cls;
}

async function getJSON(name) {
	const resp = await fetch(url(name), { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } });
	if (!resp.ok) throw new Error(name + ": HTTP " + resp.status);
	return resp.json();
}

let lastOK = 0;

async function refresh() {
	try {
		const [targets, decisions, polled, learned, gateways] = await Promise.all([getJSON("nodes.json"),
			getJSON("decisions.json?limit=" + DECISIONS), getJSON("ollama.json"), getJSON("upstreams.json"), getJSON("gateways.json")]);
		const box = document.getElementById("targets");
		box.replaceChildren(...targets.map(targetView));
		if (polled.length > 0) box.append(polledView(polled));
		if (learned.length > 0) box.append(learnedView(learned));
		for (const g of gateways) box.append(gatewaysView(g));
		if (targets.length === 0 && polled.length === 0) box.append(el("p", "muted", "No vram_aware policy is loaded in this Caddy."));
		drawDecisions(decisions);
		let nodes = 0, fresh = 0, draining = 0;
		for (const t of targets) for (const n of t.nodes) { nodes++; if (!n.stale) fresh++; if (n.draining) draining++; }
		document.getElementById("summary").textContent = nodes + " nodes, " + fresh + " fresh" +
			(draining ? ", " + draining + " draining" : "") + " · " + targets.length + " Redis target" + (targets.length === 1 ? "" : "s");
		setState("live", "ok");
		lastOK = Date.now();
	} catch (err) {
		const since = lastOK ? " · data from " + Math.round((Date.now() - lastOK) / 1000) + " s ago" : "";
		setState("cannot refresh: " + err.message + since, "bad");
	}
	setTimeout(refresh, REFRESH_MS);
}

refresh();
