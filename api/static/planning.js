// Planning page: forecast vs actual, roster coverage, coverage map with what-if, escalation queues, contracts.
"use strict";
(() => {
  const { api, esc, hm } = QF;
  let map = null, layer = null, coverage = null;

  function chart(rows) {
    // One small SVG per region: 80 % band, forecast mean line, actual bars for past hours, "now" marker.
    const W = 480, H = 110, n = rows.length, max = Math.max(1, ...rows.map((r) => Math.max(r.hi80, r.actual ?? 0)));
    const x = (i) => (i / Math.max(1, n - 1)) * (W - 10) + 5, y = (v) => H - 5 - (v / max) * (H - 15);
    const band = rows.map((r, i) => `${x(i)},${y(r.hi80)}`).concat(rows.map((r, i) => `${x(n - 1 - i)},${y(rows[n - 1 - i].lo80)}`)).join(" ");
    const line = rows.map((r, i) => `${x(i)},${y(r.mean)}`).join(" ");
    const bars = rows.map((r, i) => r.actual == null ? "" : `<rect class="fc-actual" x="${x(i) - 3}" y="${y(r.actual)}" width="6" height="${H - 5 - y(r.actual)}"><title>${hm(r.hour)} actual ${r.actual}, forecast ${r.mean.toFixed(1)}</title></rect>`).join("");
    const nowI = rows.findIndex((r) => r.actual == null);
    const now = nowI > 0 ? `<line class="fc-now" x1="${x(nowI)}" x2="${x(nowI)}" y1="0" y2="${H}"/>` : "";
    const past = rows.filter((r) => r.actual != null);
    const mae = past.length ? past.reduce((s, r) => s + Math.abs(r.actual - r.mean), 0) / past.length : null;
    const hit = past.length ? past.filter((r) => r.lo80 <= r.actual && r.actual <= r.hi80).length / past.length : null;
    return `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="Forecast and actual incidents per hour">
      <polygon class="fc-band" points="${band}"/><polyline class="fc-mean" points="${line}"/>${bars}${now}</svg>
      <p class="muted">${mae == null ? "" : `Past 24 h: MAE ${mae.toFixed(2)} per hour, ${(hit * 100).toFixed(0)} % inside the 80 % band. `}Next 24 h: ${rows.filter((r) => r.actual == null).reduce((s, r) => s + r.mean, 0).toFixed(1)} expected.</p>`;
  }

  // One line over the forecast: load so far today vs forecast, the next day's roster shortfall, escalations.
  const kpi = { load: null, esc: null };
  function drawKpi() {
    const parts = [];
    const l = kpi.load;
    if (l && l.forecast) parts.push(`<b>Today so far: ${l.actual_so_far} incidents vs ${l.forecast_so_far} forecast</b> (${l.in_band_hours}/${l.hours_past} hours inside the 80 % band; ${l.forecast_day} expected over the day)`);
    if (l && l.roster.cells) parts.push(l.roster.short_cells ? `<b class="late">Roster short by ${l.roster.short_technicians} technician(s) in ${l.roster.short_cells} shift(s)</b> next day` : `<b class="ok">Roster covers the forecast</b> next day (${l.roster.rostered} rostered, ${l.roster.needed} needed)`);
    if (kpi.esc) parts.push(`<a href="#esc-h"><b>${kpi.esc.open} escalation(s) open</b>${kpi.esc.breached ? `, <span class="late">${kpi.esc.breached} past the response clock</span>` : ""}</a>`);
    document.getElementById("load-kpi").innerHTML = parts.join(" · ");
  }
  async function loadLoad() { kpi.load = await api("/api/planning/load"); drawKpi(); }

  async function loadForecast() {
    const el = document.getElementById("forecast");
    const fc = await api("/api/planning/forecast?back_h=24&ahead_h=24");
    if (!fc.hours.length) { el.innerHTML = `<p class="muted">${esc(fc.reason || "no forecast")}</p>`; return; }
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
    document.getElementById("roster-msg").textContent = r.reason || `Operational day from ${new Date(r.day_start).toISOString().slice(0, 16).replace("T", " ")} UTC.`;
    t.innerHTML = `<caption class="sr-only">Technicians needed and rostered per region and shift</caption>
      <thead><tr><th scope="col">Region</th><th scope="col">Shift</th><th scope="col">Forecast</th><th scope="col">Needed</th><th scope="col">Rostered</th><th scope="col">Gap</th><th scope="col">Skill mix</th></tr></thead><tbody>` +
      r.rows.map((x) => `<tr><td>${esc(x.region)}</td><td>${esc(x.shift)} ${esc(x.hours)}</td><td>${x.forecast_incidents}</td><td>${x.technicians_needed}</td><td>${x.rostered}</td>
        <td class="${x.gap > 0 ? "gap-pos" : "gap-ok"}">${x.gap > 0 ? "+" + x.gap : x.gap}</td><td>${Object.entries(x.skill_mix).map(([k, v]) => `${v}× ${esc(k)}`).join(", ")}</td></tr>`).join("") + "</tbody>";
  }

  function drawCoverage() {
    if (!coverage) return;
    const h = +document.getElementById("hour").value;
    document.getElementById("hour-out").textContent = `${String(h).padStart(2, "0")}:00`;
    const s = coverage.summary;
    document.getElementById("cov-summary").textContent = `${Math.round(s.covered_by_hour[h] * 100)} % of ${s.sites} sites covered at this hour; ${Math.round(s.site_hours_covered * 100)} % of site-hours over the day.`;
    document.getElementById("uncovered").innerHTML = s.uncovered_key_accounts.length
      ? s.uncovered_key_accounts.map((a) => `<li class="late">${esc(a.customer_name)}</li>`).join("") : `<li class="ok">none</li>`;
    if (!map) return;
    layer.clearLayers();
    const pts = [];
    for (const site of coverage.sites) {
      const ok = site.covered[h];
      L.circleMarker([site.lat, site.lon], { radius: site.tier === "key" ? 8 : 5, color: ok ? "#0f6b23" : "#a4000f", fillOpacity: 0.7 })
        .bindTooltip(`${esc(site.customer_name)} – ${esc(site.device_id)} (${esc(site.tier)}): ${ok ? site.technicians[h] + " qualified technician(s) within 2 h" : "nobody within 2 h"}`).addTo(layer);
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
      msg.textContent = `+${w.site_hours_gained} site-hours covered, ${w.newly_covered_sites.length} site(s) now covered all day, ` +
        `${w.newly_covered_key_accounts.length} key account(s) no longer uncovered (${w.summary.uncovered_key_accounts.length} left).`;
    } catch (e) { msg.className = "msg"; msg.textContent = e.message; }
  }

  // Which tiers the signed-in role works (acts on); the queue only lists the tiers it sees (server-side rule:
  // planning.escalation.ROLE_TIERS). Support works tier 2, engineering tier 3 (and reads tier 2).
  const WORKS = { admin: ["2", "3"], dispatcher: ["2", "3"], support: ["2"], engineering: ["3"] };
  let role = "dispatcher";

  // Photos are served by a role-checked URL that wants the bearer token: fetched on demand and shown inline;
  // shown ones stay open across queue re-draws (url -> object URL).
  const shown = new Map();
  const figure = (url, label) => `<figure data-for="${esc(url)}"><img class="esc-photo" alt="${esc(label)} attached by the technician" src="${shown.get(url)}"></figure>`;
  function photosHtml(e) {
    return (e.evidence.photos || []).filter((p) => p.url).map((p, i) => {
      const label = `Photo ${i + 1} of escalation ${e.id}`;
      return `<button class="secondary" data-photo="${esc(p.url)}" data-label="${esc(label)}" aria-expanded="${shown.has(p.url)}">Photo ${i + 1}<span class="sr-only"> of escalation ${e.id}</span> (${Math.round((p.bytes || 0) / 1024)} kB)</button>${shown.has(p.url) ? figure(p.url, label) : ""}`;
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
      <h3>Tier ${tier}: ${esc(t.name)} <span class="chip ${t.breached ? "late" : "ok"}">${t.items.length} open, ${t.breached} late</span></h3>
      <ol>${t.items.map((e) => `<li><strong>WO ${e.work_order_id}</strong> ${esc(e.device_id)} · ${esc(e.fault_mode)} — ${esc(e.reason)}
        <span class="chip ${e.clock.state === "breached" ? "late" : e.clock.state === "due_soon" ? "risk" : "ok"}">${e.clock.minutes_left == null ? esc(e.clock.state) : e.clock.minutes_left + " min"}</span>
        <div class="muted">by ${esc(e.raised_by)} at ${hm(e.opened_at)}; evidence: ${e.evidence.photos?.length || 0} photo(s), signals ${esc((e.evidence.signals || []).join(", ") || "none")}${e.evidence.notes ? "; notes: " + esc(e.evidence.notes) : ""}</div>
        ${photosHtml(e)}
        ${works.includes(tier) ? `<div class="actions">${e.status === "open" ? `<button class="secondary" data-act="acknowledge" data-id="${e.id}">Acknowledge</button>` : ""}
          <button class="secondary" data-act="resolve" data-id="${e.id}">Resolve…</button>
          ${+tier < 3 ? `<button class="secondary" data-act="escalate" data-id="${e.id}">Escalate to engineering</button>` : ""}</div>` : `<div class="muted">read only: worked by ${+tier === 2 ? "remote support" : "engineering"}</div>`}</li>`).join("") || "<li class='muted'>empty</li>"}</ol></div>`).join("");
  }

  async function act(ev) {
    const p = ev.target.closest("button[data-photo]");
    if (p) { showPhoto(p).catch((e) => { p.textContent += ` (${e.message})`; }); return; }
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    const body = { action: b.dataset.act }, msg = document.getElementById("esc-msg");
    if (body.action === "resolve") {
      body.resolution = prompt("Resolution (goes back to the technician)"); if (!body.resolution) return;
      body.cause = prompt("Root cause (for the knowledge base; optional)") || null;
      body.fix = prompt("Fix (optional)") || null;
    }
    if (body.action === "escalate") body.resolution = prompt("Notes for engineering (optional)") || null;
    try { await api(`/api/planning/escalations/${b.dataset.id}`, { method: "POST", body }); msg.className = "msg ok"; msg.textContent = `Escalation ${b.dataset.id}: ${body.action}d.`; }
    catch (e) { msg.className = "msg"; msg.textContent = e.message; }
    loadEscalations();
  }

  async function loadContracts() {
    const rows = await api("/api/planning/work-orders");
    document.getElementById("contracts").innerHTML = `<caption class="sr-only">Covering contract and entitlement of each open work order</caption>
      <thead><tr><th scope="col">WO</th><th scope="col">Customer</th><th scope="col">Asset</th><th scope="col">Contract</th><th scope="col">Coverage</th><th scope="col">On site due</th><th scope="col">Billable</th></tr></thead><tbody>` +
      (rows.map((w) => `<tr><td>${w.work_order_id}</td><td>${esc(w.customer_name)}</td><td>${esc(w.device_id)}</td>
        <td>${w.contract ? `${esc(w.contract.code)} (${esc(w.contract.sla_tier)})` : "<span class='late'>none</span>"}</td><td>${w.contract ? esc(w.contract.coverage) : "–"}</td>
        <td>${hm(w.entitlement.onsite_due)}</td><td>${w.entitlement.labour_billable ? "labour" : ""}${w.entitlement.billable_parts.length ? " parts" : ""}${!w.entitlement.labour_billable && !w.entitlement.billable_parts.length ? "covered" : ""} <span class="muted">${esc(w.entitlement.reason)}</span></td></tr>`).join("") || "<tr><td colspan='7' class='muted'>no open work orders</td></tr>") + "</tbody>";
  }

  async function loadPreventive() {
    const p = await api("/api/planning/preventive?days=3");
    document.getElementById("prev-summary").textContent = `${p.visits.length} visit(s) slotted, ${p.deferred.length} deferred (no spare technician before they are due).`;
    const rows = p.visits.slice(0, 50);
    document.getElementById("preventive").innerHTML = `<caption class="sr-only">Preventive visits with their service windows</caption>
      <thead><tr><th scope="col">Visit</th><th scope="col">Why</th><th scope="col">Window (UTC)</th><th scope="col">Skills</th><th scope="col">Minutes</th></tr></thead><tbody>` +
      (rows.map((v) => `<tr><td>${esc(v.id)}</td><td>${v.reason === "rul" ? "predicted failure (RUL)" : "contract inspection"}</td>
        <td>${esc(v.window_start.slice(0, 16).replace("T", " "))} – ${hm(v.window_end)}</td><td>${esc(v.skills.join(", ") || "any")}</td><td>${v.duration_min}</td></tr>`).join("") ||
        "<tr><td colspan='5' class='muted'>nothing due</td></tr>") + "</tbody>";
  }

  function refresh() {
    for (const f of [loadLoad, loadForecast, loadRoster, loadCoverage, loadEscalations, loadContracts, loadPreventive]) f().catch((e) => console.warn(f.name, e.message));
  }

  QF.start(document.getElementById("login"), ["admin", "dispatcher", "support", "engineering"], (me) => {
    document.getElementById("app").hidden = false;
    role = me?.role || "dispatcher";
    if (role === "support" || role === "engineering") { // escalation desks: their queues only, nothing to plan
      for (const sec of document.querySelectorAll("#app > section")) if (!sec.querySelector("#escalations")) sec.remove();
      Object.assign(document.querySelector(".skip"), { href: "#esc-h", textContent: "Skip to the escalations" });
      document.querySelector("header nav").hidden = true;
      loadEscalations().catch((e) => console.warn("escalations", e.message));
      document.getElementById("escalations").addEventListener("click", act);
      QF.live(loadEscalations);
      setInterval(() => loadEscalations().catch(() => {}), 30e3); // the live stream carries no escalation changes for desks
      return;
    }
    if (typeof L !== "undefined") { map = L.map("map"); layer = L.layerGroup().addTo(map); map.setView([31.23, 121.47], 10); }
    else document.getElementById("map").textContent = "Map library not installed (run scripts/setup-web.sh).";
    document.getElementById("hour").addEventListener("input", drawCoverage);
    document.getElementById("roster-approve").addEventListener("click", approveRoster);
    document.getElementById("whatif").addEventListener("submit", whatIf);
    document.getElementById("escalations").addEventListener("click", act);
    refresh();
    QF.live(loadEscalations);
    setInterval(refresh, 5 * 60e3); // forecasts and coverage move slowly
  });
})();
