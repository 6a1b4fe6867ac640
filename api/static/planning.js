// Planning page: forecast vs actual, roster coverage, coverage map with what-if, escalation queues, contracts.
"use strict";
(() => {
  const { api, esc, hm, label } = QF;
  let map = null, layer = null, coverage = null;

  function chart(rows) {
    // One small SVG per region: 80 % band, forecast mean line, actual bars for past hours, "now" marker.
    const W = 480, H = 110, n = rows.length, max = Math.max(1, ...rows.map((r) => Math.max(r.hi80, r.actual ?? 0)));
    const x = (i) => (i / Math.max(1, n - 1)) * (W - 10) + 5, y = (v) => H - 5 - (v / max) * (H - 15);
    const band = rows.map((r, i) => `${x(i)},${y(r.hi80)}`).concat(rows.map((r, i) => `${x(n - 1 - i)},${y(rows[n - 1 - i].lo80)}`)).join(" ");
    const line = rows.map((r, i) => `${x(i)},${y(r.mean)}`).join(" ");
    const bars = rows.map((r, i) => r.actual == null ? "" : `<rect class="fc-actual" x="${x(i) - 3}" y="${y(r.actual)}" width="6" height="${H - 5 - y(r.actual)}"><title>${esc(QF.t("planning.fc.bar", { hour: hm(r.hour), actual: r.actual, forecast: I18N.number(r.mean, 1) }))}</title></rect>`).join("");
    const nowI = rows.findIndex((r) => r.actual == null);
    const now = nowI > 0 ? `<line class="fc-now" x1="${x(nowI)}" x2="${x(nowI)}" y1="0" y2="${H}"/>` : "";
    const past = rows.filter((r) => r.actual != null);
    const mae = past.length ? past.reduce((s, r) => s + Math.abs(r.actual - r.mean), 0) / past.length : null;
    const hit = past.length ? past.filter((r) => r.lo80 <= r.actual && r.actual <= r.hi80).length / past.length : null;
    return `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${esc(QF.t("planning.fc.label"))}">
      <polygon class="fc-band" points="${band}"/><polyline class="fc-mean" points="${line}"/>${bars}${now}</svg>
      <p class="muted">${mae == null ? "" : esc(QF.t("planning.fc.past", { mae: I18N.number(mae, 2), hit: I18N.percent(hit) })) + " "}${esc(QF.t("planning.fc.next", { expected: I18N.number(rows.filter((r) => r.actual == null).reduce((s, r) => s + r.mean, 0), 1) }))}</p>`;
  }

  // One line over the forecast: load so far today vs forecast, the next day's roster shortfall, escalations.
  const kpi = { load: null, esc: null };
  function drawKpi() {
    const parts = [];
    const l = kpi.load;
    if (l && l.forecast) parts.push(`<b>${esc(QF.t("planning.kpi.today", { actual: l.actual_so_far, forecast: l.forecast_so_far }))}</b> ${esc(QF.t("planning.kpi.todayDetail", { inBand: l.in_band_hours, hours: l.hours_past, day: l.forecast_day }))}`);
    if (l && l.roster.cells) parts.push(l.roster.short_cells ? `<b class="late">${esc(QF.t("planning.kpi.short", { techs: l.roster.short_technicians, shifts: l.roster.short_cells }))}</b>` : `<b class="ok">${esc(QF.t("planning.kpi.covered", { rostered: l.roster.rostered, needed: l.roster.needed }))}</b>`);
    if (kpi.esc) parts.push(`<a href="#esc-h"><b>${esc(QF.t("planning.kpi.escalations", { open: kpi.esc.open }))}</b>${kpi.esc.breached ? `, <span class="late">${esc(QF.t("planning.kpi.breached", { count: kpi.esc.breached }))}</span>` : ""}</a>`);
    document.getElementById("load-kpi").innerHTML = parts.join(" · ");
  }
  async function loadLoad() { kpi.load = await api("/api/planning/load"); drawKpi(); }

  async function loadForecast() {
    const el = document.getElementById("forecast");
    const fc = await api("/api/planning/forecast?back_h=24&ahead_h=24");
    if (!fc.hours.length) { el.innerHTML = `<p class="muted">${esc(fc.reason || QF.t("planning.fc.none"))}</p>`; return; }
    el.innerHTML = fc.regions.map((r) => `<div class="fc-region"><h3>${esc(r)}</h3>${chart(fc.hours.filter((h) => h.region === r))}</div>`).join("");
  }

  // The proposal names technicians per shift; a dispatcher approves it and the shifts are what dispatch plans with.
  let proposal = null;
  function drawApproval(p) {
    proposal = p;
    const who = (s) => `${esc(s.code)} ${esc(s.shift)} ${esc(QF.hm(s.starts_at))}–${esc(QF.hm(s.ends_at))}`;
    document.getElementById("roster-proposed").innerHTML = p.shifts.length
      ? QF.t("planning.roster.proposed", { n: p.shifts.length }) + " " + p.shifts.map(who).join(", ") : "";
    document.getElementById("roster-approve").disabled = !p.shifts.length;
    document.getElementById("roster-approved").innerHTML = p.approved.length
      ? `<li><b>${esc(QF.t("planning.roster.approvedTitle", { n: p.approved.length }))}</b></li>` + p.approved.map((s) => `<li>${who(s)}</li>`).join("") : "";
  }
  async function approveRoster() {
    const msg = document.getElementById("roster-approve-msg");
    try {
      const out = await api("/api/planning/roster/approve", { method: "POST", body: { day_start: proposal.day_start } });
      msg.textContent = QF.t("planning.roster.approvedMsg", { n: out.created, short: out.short.length });
      await loadRoster();
    } catch (e) { msg.textContent = e.message; }
  }

  async function loadRoster() {
    const r = await api("/api/planning/roster/proposal");
    drawApproval(r);
    const t = document.getElementById("roster");
    document.getElementById("roster-msg").textContent = r.reason || QF.t("planning.roster.day", { at: I18N.datetime(r.day_start) });
    t.innerHTML = `<caption class="sr-only">${esc(QF.t("planning.roster.caption"))}</caption>
      <thead><tr>${["region", "shift", "forecast", "needed", "rostered", "gap", "skills"].map((k) => `<th scope="col">${esc(QF.t(`planning.roster.col.${k}`))}</th>`).join("")}</tr></thead><tbody>` +
      r.rows.map((x) => `<tr><td>${esc(x.region)}</td><td>${esc(x.shift)} ${esc(x.hours)}</td><td>${x.forecast_incidents}</td><td>${x.technicians_needed}</td><td>${x.rostered}</td>
        <td class="${x.gap > 0 ? "gap-pos" : "gap-ok"}">${x.gap > 0 ? "+" + x.gap : x.gap}</td><td>${Object.entries(x.skill_mix).map(([k, v]) => `${v}× ${esc(label("common.skill", k))}`).join(", ")}</td></tr>`).join("") + "</tbody>";
  }

  function drawCoverage() {
    if (!coverage) return;
    const h = +document.getElementById("hour").value;
    document.getElementById("hour-out").textContent = `${String(h).padStart(2, "0")}:00`;
    const s = coverage.summary;
    document.getElementById("cov-summary").textContent = QF.t("planning.cov.summary", { share: I18N.percent(s.covered_by_hour[h]), sites: s.sites, day: I18N.percent(s.site_hours_covered) });
    document.getElementById("uncovered").innerHTML = s.uncovered_key_accounts.length
      ? s.uncovered_key_accounts.map((a) => `<li class="late">${esc(a.customer_name)}</li>`).join("") : `<li class="ok">${esc(QF.t("planning.none"))}</li>`;
    if (!map) return;
    layer.clearLayers();
    const pts = [];
    for (const site of coverage.sites) {
      const ok = site.covered[h];
      L.circleMarker([site.lat, site.lon], { radius: site.tier === "key" ? 8 : 5, color: ok ? "#0f6b23" : "#a4000f", fillOpacity: 0.7 })
        .bindTooltip(`${esc(site.customer_name)} – ${esc(site.device_id)} (${esc(label("common.tier", site.tier))}): ${esc(ok ? QF.t("planning.cov.techs", { count: site.technicians[h] }) : QF.t("planning.cov.nobody"))}`).addTo(layer);
      pts.push([site.lat, site.lon]);
    }
    if (pts.length && !drawCoverage.fitted) { map.fitBounds(pts, { padding: [20, 20] }); drawCoverage.fitted = true; }
  }

  async function loadCoverage() { coverage = await api("/api/planning/coverage"); drawCoverage(); }

  async function whatIf(ev) {
    ev.preventDefault();
    const f = new FormData(ev.target), msg = document.getElementById("whatif-msg");
    const item = { lat: +f.get("lat"), lon: +f.get("lon"), shift_start_h: +f.get("from"), shift_end_h: +f.get("to"),
      skills: String(f.get("skills") || "").split(",").map((s) => s.trim()).filter(Boolean) };
    const body = f.get("kind") === "depot" ? { add_depots: [item] } : { add_technicians: [item] };
    try {
      const r = await api("/api/planning/coverage/what-if", { method: "POST", body });
      const w = r.what_if;
      msg.className = "msg ok";
      msg.textContent = QF.t("planning.whatif.result", { hours: w.site_hours_gained, sites: w.newly_covered_sites.length,
        keys: w.newly_covered_key_accounts.length, left: w.summary.uncovered_key_accounts.length });
    } catch (e) { msg.className = "msg"; msg.textContent = e.message; }
  }

  // Which tiers the signed-in role works (acts on); the queue only lists the tiers it sees (server-side rule:
  // planning.escalation.ROLE_TIERS). Support works tier 2, engineering tier 3 (and reads tier 2).
  const WORKS = { admin: ["2", "3"], dispatcher: ["2", "3"], support: ["2"], engineering: ["3"] };
  let role = "dispatcher";

  // Photos are served by a role-checked URL that wants the bearer token: fetched on demand and shown inline;
  // shown ones stay open across queue re-draws (url -> object URL).
  const shown = new Map();
  const figure = (url, text) => `<figure data-for="${esc(url)}"><img class="esc-photo" alt="${esc(QF.t("planning.esc.photoAlt", { label: text }))}" src="${shown.get(url)}"></figure>`;
  function photosHtml(e) {
    return (e.evidence.photos || []).filter((p) => p.url).map((p, i) => {
      const text = QF.t("planning.esc.photoOf", { n: i + 1, id: e.id });
      return `<button class="secondary" data-photo="${esc(p.url)}" data-label="${esc(text)}" aria-expanded="${shown.has(p.url)}">${esc(QF.t("planning.esc.photo", { n: i + 1 }))}<span class="sr-only"> ${esc(QF.t("planning.esc.ofEscalation", { id: e.id }))}</span> (${I18N.number(Math.round((p.bytes || 0) / 1024))} kB)</button>${shown.has(p.url) ? figure(p.url, text) : ""}`;
    }).join(" ");
  }
  async function showPhoto(b) {
    const url = b.dataset.photo;
    if (shown.has(url)) {
      URL.revokeObjectURL(shown.get(url)); shown.delete(url);
      b.nextElementSibling?.matches("figure") && b.nextElementSibling.remove();
      b.setAttribute("aria-expanded", "false"); return;
    }
    const r = await fetch(url, { headers: { Authorization: `Bearer ${localStorage.getItem("qf-token")}` } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    shown.set(url, URL.createObjectURL(await r.blob()));
    const cur = [...document.querySelectorAll("button[data-photo]")].find((x) => x.dataset.photo === url) || b;
    cur.insertAdjacentHTML("afterend", figure(url, cur.dataset.label));
    cur.setAttribute("aria-expanded", "true");
  }

  async function loadEscalations() {
    const q = await api("/api/planning/escalations");
    const works = WORKS[role] || [];
    const tiers = Object.values(q);
    kpi.esc = { open: tiers.reduce((n, t) => n + t.items.length, 0), breached: tiers.reduce((n, t) => n + t.breached, 0) };
    if (document.getElementById("load-kpi")) drawKpi();
    document.getElementById("escalations").innerHTML = Object.entries(q).map(([tier, t]) => `<div class="queue-tier">
      <h3>${esc(QF.t("planning.esc.tier", { tier, name: label("planning.esc.tierName", tier) || t.name }))} <span class="chip ${t.breached ? "late" : "ok"}">${esc(QF.t("planning.esc.counts", { open: t.items.length, late: t.breached }))}</span></h3>
      <ol>${t.items.map((e) => `<li><strong>${esc(QF.t("planning.esc.wo", { id: e.work_order_id }))}</strong> ${esc(e.device_id)} · ${esc(label("fault", e.fault_mode))} — ${esc(e.reason)}
        <span class="chip ${e.clock.state === "breached" ? "late" : e.clock.state === "due_soon" ? "risk" : "ok"}">${e.clock.minutes_left == null ? esc(label("planning.esc.clock", e.clock.state)) : esc(QF.t("planning.esc.minutes", { min: e.clock.minutes_left }))}</span>
        <div class="muted">${esc(QF.t("planning.esc.evidence", { by: e.raised_by, at: hm(e.opened_at), photos: e.evidence.photos?.length || 0, signals: (e.evidence.signals || []).join(", ") || QF.t("planning.none") }))}${e.evidence.notes ? esc(QF.t("planning.esc.notes", { notes: e.evidence.notes })) : ""}</div>
        ${photosHtml(e)}
        ${works.includes(tier) ? `<div class="actions">${e.status === "open" ? `<button class="secondary" data-act="acknowledge" data-id="${e.id}">${esc(QF.t("planning.esc.acknowledge"))}</button>` : ""}
          <button class="secondary" data-act="resolve" data-id="${e.id}">${esc(QF.t("planning.esc.resolve"))}</button>
          ${+tier < 3 ? `<button class="secondary" data-act="escalate" data-id="${e.id}">${esc(QF.t("planning.esc.escalate"))}</button>` : ""}</div>` : `<div class="muted">${esc(QF.t(+tier === 2 ? "planning.esc.readOnlySupport" : "planning.esc.readOnlyEngineering"))}</div>`}</li>`).join("") || `<li class='muted'>${esc(QF.t("planning.esc.empty"))}</li>`}</ol></div>`).join("");
  }

  async function act(ev) {
    const p = ev.target.closest("button[data-photo]");
    if (p) { showPhoto(p).catch((e) => { p.textContent += ` (${e.message})`; }); return; }
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    const body = { action: b.dataset.act }, msg = document.getElementById("esc-msg");
    if (body.action === "resolve") {
      body.resolution = prompt(QF.t("planning.esc.promptResolution")); if (!body.resolution) return;
      body.cause = prompt(QF.t("planning.esc.promptCause")) || null;
      body.fix = prompt(QF.t("planning.esc.promptFix")) || null;
    }
    if (body.action === "escalate") body.resolution = prompt(QF.t("planning.esc.promptNotes")) || null;
    try { await api(`/api/planning/escalations/${b.dataset.id}`, { method: "POST", body }); msg.className = "msg ok"; msg.textContent = QF.t("planning.esc.done", { id: b.dataset.id, action: body.action }); }
    catch (e) { msg.className = "msg"; msg.textContent = e.message; }
    loadEscalations();
  }

  async function loadContracts() {
    const rows = await api("/api/planning/work-orders");
    document.getElementById("contracts").innerHTML = `<caption class="sr-only">${esc(QF.t("planning.wo.caption"))}</caption>
      <thead><tr>${["wo", "customer", "asset", "contract", "coverage", "due", "billable"].map((k) => `<th scope="col">${esc(QF.t(`planning.wo.col.${k}`))}</th>`).join("")}</tr></thead><tbody>` +
      (rows.map((w) => `<tr><td>${w.work_order_id}</td><td>${esc(w.customer_name)}</td><td>${esc(w.device_id)}</td>
        <td>${w.contract ? `${esc(w.contract.code)} (${esc(label("common.tier", w.contract.sla_tier))})` : `<span class='late'>${esc(QF.t("planning.none"))}</span>`}</td><td>${w.contract ? esc(w.contract.coverage) : "–"}</td>
        <td>${hm(w.entitlement.onsite_due)}</td><td>${esc([w.entitlement.labour_billable ? QF.t("planning.wo.labour") : "", w.entitlement.billable_parts.length ? QF.t("planning.wo.parts") : "", !w.entitlement.labour_billable && !w.entitlement.billable_parts.length ? QF.t("planning.wo.covered") : ""].filter(Boolean).join(" "))} <span class="muted">${esc(w.entitlement.reason)}</span></td></tr>`).join("") || `<tr><td colspan='7' class='muted'>${esc(QF.t("planning.wo.none"))}</td></tr>`) + "</tbody>";
  }

  async function loadPreventive() {
    const p = await api("/api/planning/preventive?days=3");
    document.getElementById("prev-summary").textContent = QF.t("planning.prev.summary", { slotted: p.visits.length, deferred: p.deferred.length });
    const rows = p.visits.slice(0, 50);
    document.getElementById("preventive").innerHTML = `<caption class="sr-only">${esc(QF.t("planning.prev.caption"))}</caption>
      <thead><tr>${["visit", "why", "window", "skills", "minutes"].map((k) => `<th scope="col">${esc(QF.t(`planning.prev.col.${k}`))}</th>`).join("")}</tr></thead><tbody>` +
      (rows.map((v) => `<tr><td>${esc(v.id)}</td><td>${esc(QF.t(v.reason === "rul" ? "planning.prev.rul" : "planning.prev.inspection"))}</td>
        <td>${esc(I18N.datetime(v.window_start))} – ${hm(v.window_end)}</td><td>${esc(v.skills.map((s) => label("common.skill", s)).join(", ") || QF.t("planning.prev.any"))}</td><td>${I18N.number(v.duration_min)}</td></tr>`).join("") ||
        `<tr><td colspan='5' class='muted'>${esc(QF.t("planning.prev.none"))}</td></tr>`) + "</tbody>";
  }

  function refresh() {
    for (const f of [loadLoad, loadForecast, loadRoster, loadCoverage, loadEscalations, loadContracts, loadPreventive]) f().catch((e) => console.warn(f.name, e.message));
  }

  QF.start(document.getElementById("login"), ["admin", "dispatcher", "support", "engineering"], (me) => {
    document.getElementById("app").hidden = false;
    role = me?.role || "dispatcher";
    if (role === "support" || role === "engineering") { // escalation desks: their queues only, nothing to plan
      for (const sec of document.querySelectorAll("#app > section")) if (!sec.querySelector("#escalations")) sec.remove();
      Object.assign(document.querySelector(".skip"), { href: "#esc-h", textContent: QF.t("planning.skipEsc") });
      document.querySelector("header nav").hidden = true;
      loadEscalations().catch((e) => console.warn("escalations", e.message));
      document.getElementById("escalations").addEventListener("click", act);
      QF.live(loadEscalations);
      setInterval(() => loadEscalations().catch(() => {}), 30e3); // the live stream carries no escalation changes for desks
      return;
    }
    if (typeof L !== "undefined") { map = L.map("map"); layer = L.layerGroup().addTo(map); map.setView([31.23, 121.47], 10); }
    else document.getElementById("map").textContent = QF.t("board.map.noLibrary");
    document.getElementById("hour").addEventListener("input", drawCoverage);
    document.getElementById("roster-approve").addEventListener("click", approveRoster);
    document.getElementById("whatif").addEventListener("submit", whatIf);
    document.getElementById("escalations").addEventListener("click", act);
    refresh();
    QF.live(loadEscalations);
    setInterval(refresh, 5 * 60e3); // forecasts and coverage move slowly
  });
})();
