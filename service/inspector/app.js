// The inspector page: plain JavaScript, no framework, no build step, nothing from other hosts.
// Neighbours and candidates come from the public /v1 routes, exactly as a client gets them;
// /inspect/api/* adds the version summary, catalogue facts and raw histories. Every value is
// put in the page as text (never as HTML). The admin token and API key live in sessionStorage
// (gone with the tab) and go with every request: Authorization: Bearer ADMIN_TOKEN for the
// inspector's data, X-API-Key for /v1 (the service reads X-API-Key first there).
"use strict";

(function () {
  const TOKEN = "ic.inspector.adminToken";
  const KEY = "ic.inspector.apiKey";
  const PAST = { view: "viewed", favorite: "favorited", cart: "carted", purchase: "purchased" };
  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers: text only ------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const fill = (node, ...children) => { node.replaceChildren(); node.append(el("div", {}, ...children)); };
  const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : n == null ? "—" : String(n));
  const score = (n) => (typeof n === "number" ? n.toFixed(4) : "—");
  const pct = (n) => (typeof n === "number" ? n.toFixed(2) : "—");
  const itemLink = (id) => el("button", { type: "button", class: "link", dataset: { item: id } }, id);
  const day = (unix) => new Date(unix * 1000).toISOString().slice(0, 10);

  function table(headers, rows, numeric) {
    const head = el("tr", {}, headers.map((h, i) => el("th", { class: numeric && numeric[i] ? "num" : null }, h)));
    const body = rows.map((row) => el("tr", { class: row.highlight ? "highlight" : null },
      row.cells.map((c, i) => el("td", { class: numeric && numeric[i] ? "num" : null }, c))));
    return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
  }

  function status(node, text, isError) {
    node.textContent = text || "";
    node.classList.toggle("error", Boolean(isError));
  }

  // ---- requests ---------------------------------------------------------------------------
  function headers(extra) {
    const found = Object.assign({}, extra || {});
    const token = sessionStorage.getItem(TOKEN);
    const key = sessionStorage.getItem(KEY);
    if (token) found["Authorization"] = "Bearer " + token;
    if (key) found["X-API-Key"] = key;
    return found;
  }

  class Refused extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function refusal(response) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      if (Array.isArray(body.detail)) {
        detail = body.detail.map((e) => (e.loc || []).join(".") + ": " + e.msg).join("; ");
      } else if (body.detail) {
        detail = String(body.detail);
      }
    } catch (ignored) { /* not JSON: keep the status text */ }
    if (response.status === 401) detail += " (enter the token or key above)";
    return new Refused(response.status, response.status + ": " + detail);
  }

  async function getJSON(path, options) {
    const response = await fetch(path, Object.assign({ headers: headers() }, options || {}));
    if (!response.ok) throw await refusal(response);
    return response.json();
  }

  async function itemFacts(ids) {
    const unique = [...new Set(ids)];
    if (!unique.length) return new Map();
    const body = await getJSON("inspect/api/items", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ items: unique }),
    });
    return new Map(body.items.map((f) => [f.item_id, f]));
  }

  const category = (facts, id) => {
    const f = facts.get(id);
    if (!f) return "—";
    if (!f.known) return f.category_id ? f.category_id + " (not in model)" : "not in model";
    return f.category_id || "—";
  };

  // ---- the served version -------------------------------------------------------------------
  let served = null;

  async function loadVersion() {
    try {
      served = await getJSON("inspect/api/version");
    } catch (error) {
      $("version-id").textContent = "?";
      status($("access-status"), "Version summary: " + error.message, true);
      return;
    }
    status($("access-status"), "");
    $("version-id").textContent = served.version;
    setTargets(served.targets);
    showBand(served);
    showVersion(served);
    showEvaluation(served.evaluation);
  }

  function setTargets(targets) {
    const select = $("target");
    const chosen = select.value;
    select.replaceChildren(...targets.map((t) => el("option", { selected: t === chosen }, t)));
  }

  function figure(label, value) {
    return el("div", { class: "figure" }, el("span", { class: "label" }, label), el("span", { class: "value" }, value));
  }

  function showBand(v) {
    const d = v.data || {};
    const pairs = d.pairs_per_interaction || {};
    const recall = (v.indexes || []).find((i) => i.name === "view");
    const recallText = recall && recall.recall ? Object.entries(recall.recall).map(([k, r]) => k + " " + pct(100 * r) + " %").join(", ") : "—";
    const epochs = v.config && v.config.sgns ? v.config.sgns.epochs : undefined;
    $("version-band").replaceChildren(
      figure("version", el("code", {}, v.version)),
      figure("created", v.created_at.replace("T", " ").slice(0, 19) + " UTC"),
      figure("vectors", v.dim + "-d, " + v.similarity),
      figure("events", fmt(d.events)),
      figure("users", fmt(d.users)),
      figure("sessions", fmt(d.sessions)),
      figure("items", fmt(d.items)),
      figure("pairs", Object.entries(pairs).map(([k, n]) => k + " " + fmt(n)).join(" · ") || fmt(d.pairs)),
      figure("epochs", fmt(epochs)),
      figure("view index recall", recallText),
    );
  }

  function showVersion(v) {
    const d = v.data || {};
    const out = [];
    const dataRows = [
      ["source", d.source], ["rows read", fmt(d.rows_read)], ["events kept", fmt(d.events)],
      ["bad rows", Object.entries(d.bad_rows || {}).map(([r, n]) => r + " " + fmt(n)).join(", ") || "none"],
      ["time range", d.time_range ? day(d.time_range[0]) + " … " + day(d.time_range[1]) : "—"],
      ["sessions (dropped as too short)", fmt(d.sessions) + " (" + fmt(d.sessions_dropped_short) + ")"],
      ["categories", fmt(d.categories)], ["files", fmt(v.files.count) + " files, " + fmt(v.files.bytes) + " bytes"],
    ];
    out.push(el("h3", {}, "Data"), table(["", ""], dataRows.map((r) => ({ cells: r }))));
    const training = Object.entries(v.training || {}).map(([name, t]) => ({
      cells: [name, fmt(t.tokens), fmt(t.epochs), fmt(t.threads), t.seconds.toFixed(1), fmt(Math.round(t.tokens_per_second))],
    }));
    out.push(el("h3", {}, "Training"),
      table(["model", "tokens", "epochs", "threads", "seconds", "tokens / s"], training, [0, 1, 1, 1, 1, 1]));
    const indexes = (v.indexes || []).map((i) => ({
      cells: [i.name, fmt(i.count), i.stored_vectors, fmt(i.M), fmt(i.ef_construction), fmt(i.ef_search),
        Object.entries(i.recall || {}).map(([k, r]) => k + " " + pct(100 * r) + " %").join(", ") || "—",
        i.live ? "yes" : "no (tables only)"],
    }));
    out.push(el("h3", {}, "Indexes"),
      table(["index", "vectors", "stored", "M", "ef_construction", "ef_search", "recall (sample)", "live"], indexes, [0, 1, 0, 1, 1, 1]));
    const tables = (v.tables || []).map((t) => ({ cells: [t.seed + " > " + t.target, fmt(t.k), fmt(t.rows)] }));
    out.push(el("h3", {}, "Neighbour tables"), table(["seed > target", "k", "rows"], tables, [0, 1, 1]));
    if (v.blend && v.blend.thresholds && Object.keys(v.blend.thresholds).length) {
      const ks = [...new Set(Object.values(v.blend.thresholds).flatMap((perK) => Object.keys(perK)))].sort((a, b) => a - b);
      const rows = Object.entries(v.blend.thresholds).map(([way, perK]) => ({ cells: [way, ...ks.map((k) => score(perK[k]))] }));
      out.push(el("h3", {}, "Blend thresholds (" + v.blend.seed_interaction + " seeds), by k"),
        table(["way", ...ks.map((k) => "k " + k)], rows, [0, ...ks.map(() => 1)]));
    }
    if (v.chosen && v.chosen.epochs) {
      out.push(el("p", { class: "facts" }, el("strong", {}, "Epochs chosen: " + v.chosen.epochs.chosen), " — " + (v.chosen.epochs.why || "")));
    }
    out.push(el("details", {}, el("summary", {}, "Training config (as recorded in the manifest)"),
      el("pre", {}, JSON.stringify(v.config, null, 2))));
    fill($("version-details"), out);
  }

  // ---- the evaluation ----------------------------------------------------------------------
  function showEvaluation(ev) {
    const node = $("evaluation");
    if (!ev) {
      fill(node, el("p", { class: "none" }, "This version has no evaluation folder (docs/inspector.md says how to add one)."));
      return;
    }
    const out = [];
    if (ev.title) out.push(el("p", { class: "facts" }, ev.title));
    if (ev.problem) out.push(el("p", { class: "status error" }, ev.problem));
    const split = Object.entries(ev.split || {});
    if (split.length) out.push(el("p", { class: "facts" }, split.map(([k, v]) => k + ": " + v).join(" · ")));
    if (ev.headline) {
      const h = ev.headline;
      const heads = ["model", ...h.columns.map(([t, k]) => t + " @" + k), "coverage"];
      const rows = h.rows.map((r) => ({ highlight: r.model === "served", cells: [r.model, ...r.hit_rate.map(pct), pct(r.coverage)] }));
      out.push(el("h3", {}, "Hit rate (%) and item coverage (%)"), table(heads, rows, [0, ...h.columns.map(() => 1), 1]));
    }
    const plots = el("div", { class: "plots" });
    out.push(plots);
    if (ev.report) {
      const pre = el("pre", {}, "…");
      const details = el("details", {}, el("summary", {}, "The full report (report.md)"), pre);
      details.addEventListener("toggle", () => { if (details.open) loadText("report.md", pre); }, { once: true });
      out.push(details);
    }
    fill(node, out);
    for (const name of ev.plots || []) loadPlot(name, plots);
  }

  async function loadPlot(name, into) {
    const img = el("img", { alt: name });
    into.append(el("figure", {}, img, el("figcaption", {}, name)));
    try {
      const response = await fetch("inspect/api/evaluation/" + encodeURIComponent(name), { headers: headers() });
      if (!response.ok) throw await refusal(response);
      img.src = URL.createObjectURL(await response.blob());
    } catch (error) {
      img.replaceWith(el("p", { class: "status error" }, error.message));
    }
  }

  async function loadText(name, pre) {
    try {
      const response = await fetch("inspect/api/evaluation/" + encodeURIComponent(name), { headers: headers() });
      if (!response.ok) throw await refusal(response);
      pre.textContent = await response.text();
    } catch (error) {
      pre.textContent = error.message;
    }
  }

  // ---- item neighbours ----------------------------------------------------------------------
  async function showNeighbors(event) {
    if (event) event.preventDefault();
    const item = $("item-id").value.trim();
    const x = $("seed-interaction").value;
    const y = $("target").value;
    const k = $("item-k").value || "20";
    const node = $("neighbors");
    status($("item-status"), "Loading…");
    $("item-facts").replaceChildren();
    node.replaceChildren();
    try {
      const query = new URLSearchParams({ interaction: x, target: y, k });
      const [answer, facts] = await Promise.all([
        getJSON("v1/items/" + encodeURIComponent(item) + "/neighbors?" + query),
        itemFacts([item]),
      ]);
      const isItems = answer.neighbors.length === 0 || "item_id" in answer.neighbors[0];
      const known = isItems ? await itemFacts(answer.neighbors.map((n) => n.item_id)) : new Map();
      const f = facts.get(item);
      $("item-facts").append(el("p", { class: "facts" }, el("strong", {}, item), " · category ",
        el("strong", {}, category(facts, item)), " · pair vectors: ", (f && f.pairs.length ? f.pairs.join(", ") : "none")));
      const title = "Because you " + PAST[x] + " " + item + ", you may " + y + " these";
      let rendered;
      if (isItems) {
        rendered = table(["#", "item", "category", "score", "found in", "embedding"],
          answer.neighbors.map((n, i) => ({ cells: [i + 1, itemLink(n.item_id), category(known, n.item_id), score(n.score), n.interaction || "—", n.embedding] })),
          [1, 0, 0, 1, 0, 0]);
      } else {
        rendered = table(["#", "kind", "entity", "score"],
          answer.neighbors.map((n, i) => ({ cells: [i + 1, n.kind, n.entity_id, score(n.score)] })), [1, 0, 0, 1]);
      }
      node.append(el("h3", {}, title), rendered);
      status($("item-status"), answer.neighbors.length + " neighbours from version " + answer.model_version);
    } catch (error) {
      status($("item-status"), error.message, true);
    }
  }

  // ---- a user's candidates --------------------------------------------------------------------
  // A module's seed interaction; by its name when the answer leaves it null (older services
  // sent null for "view", whose code is 0).
  const seedInteraction = (m) => m.seed_interaction || { viewed: "view", carted: "cart" }[m.name] || null;

  function reason(b) {
    if (!b) return "—";
    if (b.reason === "seed") {
      if (b.entity_kind) return "the " + b.entity_kind + " " + b.entity_id;
      const seed = "you " + (PAST[b.interaction] || b.interaction) + " ";
      return b.category_id ? [seed, itemLink(b.item_id), " (unknown item: its category " + b.category_id + ")"] : [seed, itemLink(b.item_id)];
    }
    if (b.reason === "popular_in_category") return ["popular in " + b.category_id + ", the category of ", itemLink(b.item_id)];
    return b.category_id ? "popular in " + b.category_id : "popular overall";
  }

  async function showUser(event) {
    if (event) event.preventDefault();
    const user = $("user-id").value.trim();
    const k = $("user-k").value || "10";
    status($("user-status"), "Loading…");
    $("history").replaceChildren();
    $("modules").replaceChildren();
    try {
      const path = encodeURIComponent(user);
      const [history, answer] = await Promise.all([
        getJSON("inspect/api/users/" + path + "/history"),
        getJSON("v1/users/" + path + "/candidates?" + new URLSearchParams({ k })),
      ]);
      const ids = answer.modules.flatMap((m) => m.candidates.map((c) => c.item_id));
      const facts = await itemFacts(ids);
      const seeds = new Map(answer.modules.map((m) => [seedInteraction(m), new Set(m.seeds)]));
      showHistory(history, seeds);
      showModules(answer, facts);
      status($("user-status"), "Version " + answer.model_version + (answer.fallback ? " · fallback: " + answer.fallback : "") + (answer.degraded ? " · degraded (Redis unavailable)" : ""));
    } catch (error) {
      status($("user-status"), error.message, true);
    }
  }

  // seeds: a module's seed interaction → its seeds (each list highlights its own module's)
  function showHistory(history, seeds) {
    const rows = [];
    for (const [interaction, items] of Object.entries(history.lists)) {
      const own = seeds.get(interaction) || new Set();
      const chips = items.map((f) => el("span", { class: "chip" + (own.has(f.item_id) ? " seed" : "") + (f.known ? "" : " unknown"), title: f.known ? "pairs: " + f.pairs.join(", ") : "not in the model" },
        itemLink(f.item_id), el("span", { class: "cat" }, f.category_id || "")));
      rows.push(el("dt", {}, interaction + " (" + items.length + ")"), el("dd", {}, chips.length ? chips : el("span", { class: "none" }, "none")));
    }
    $("history").append(el("h3", {}, "History in Redis, newest first (seeds highlighted)"), el("dl", { class: "lists" }, rows));
  }

  function showModules(answer, facts) {
    const out = [];
    if (answer.fallback || answer.degraded) {
      out.push(el("p", { class: "flags" }, answer.fallback ? el("span", { class: "flag" }, "fallback: " + answer.fallback) : null,
        answer.degraded ? el("span", { class: "flag" }, "degraded") : null));
    }
    for (const m of answer.modules) {
      const meta = [seedInteraction(m) ? "seeds (" + seedInteraction(m) + "): " : "seeds: ",
        m.seeds.length ? m.seeds.flatMap((s, i) => (i ? [", ", itemLink(s)] : [itemLink(s)])) : "none",
        " · targets: " + (m.target_interactions.join(", ") || "—"),
        m.unknown_seeds.length ? " · unknown seeds: " + m.unknown_seeds.join(", ") : ""];
      const rows = m.candidates.map((c, i) => ({
        cells: [i + 1, itemLink(c.item_id), category(facts, c.item_id), score(c.score), c.interaction || "—", c.embedding, reason(c.because)],
      }));
      out.push(el("div", { class: "module", dataset: { module: m.name } },
        el("h3", {}, m.title), el("div", { class: "meta" }, meta),
        rows.length ? table(["#", "item", "category", "score", "found in", "embedding", "because"], rows, [1, 0, 0, 1, 0, 0, 0])
          : el("p", { class: "none" }, "no candidates")));
    }
    $("modules").append(...out);
  }

  // ---- wiring ---------------------------------------------------------------------------------
  function saveAccess(event) {
    event.preventDefault();
    for (const [id, name] of [["admin-token", TOKEN], ["api-key", KEY]]) {
      const value = $(id).value.trim();
      if (value) sessionStorage.setItem(name, value); else sessionStorage.removeItem(name);
    }
    loadVersion();
  }

  function followItem(event) {
    const button = event.target.closest("button[data-item]");
    if (!button) return;
    $("item-id").value = button.dataset.item;
    showNeighbors();
    $("item-title").scrollIntoView({ behavior: "smooth" });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("admin-token").value = sessionStorage.getItem(TOKEN) || "";
    $("api-key").value = sessionStorage.getItem(KEY) || "";
    $("access-form").addEventListener("submit", saveAccess);
    $("item-form").addEventListener("submit", showNeighbors);
    $("user-form").addEventListener("submit", showUser);
    document.body.addEventListener("click", followItem);
    loadVersion();
  });
})();
