// The dispatcher's route board: map, SLA-risk queue with live countdowns, timeline lanes, intake, KPIs.
"use strict";
(() => {
  const { api, esc, hm, countdown, now } = QF;
  const STATE_COLOUR = { free: "#0f6b23", travelling: "#0a58ca", on_site: "#6a3fb5", off: "#6b7280" };
  const LANE_BEFORE_MS = 30 * 60e3, LANE_SPAN_MS = 4.5 * 3600e3; // lanes show now-30 min .. now+4 h
  let map = null, layer = null, fitted = false, data = { technicians: [], queue: [] };

  function initMap(tileUrl) {
    if (typeof L === "undefined") { document.getElementById("map").textContent = "Map library not installed (run scripts/setup-web.sh)."; return; }
    map = L.map("map", { zoomSnap: 0.25, attributionControl: !!tileUrl });
    if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 18, attribution: "map tiles" }).addTo(map);
    layer = L.layerGroup().addTo(map);
    map.setView([51.92, 4.48], 11);
  }

  function drawMap() {
    if (!map) return;
    layer.clearLayers();
    const techs = new Map(data.technicians.map((t) => [t.id, t]));
    const pts = [];
    for (const q of data.queue) {
      const t = techs.get(q.technician_id);
      if (t && !q.arrived_at) {
        L.polyline([[t.lat, t.lon], [q.lat, q.lon]], { color: q.eta_late ? "#a4000f" : "#0a58ca", weight: 2,
          dashArray: q.status === "assigned" ? "6 6" : null }).addTo(layer);
      }
      const late = riskOf(q).cls;
      L.rectangle([[q.lat - 0.002, q.lon - 0.003], [q.lat + 0.002, q.lon + 0.003]], {
        color: late === "late" ? "#a4000f" : late === "risk" ? "#c46a00" : "#14324a", weight: 2, fillOpacity: 0.6 })
        .bindTooltip(`#${q.id} ${esc(q.device_name)} · ${esc(q.customer_name)} (${esc(q.tier)}) · ${esc(q.status)}`).addTo(layer);
      pts.push([q.lat, q.lon]);
    }
    for (const t of data.technicians) {
      L.circleMarker([t.lat, t.lon], { radius: 8, color: "#fff", weight: 2, fillColor: STATE_COLOUR[t.state] || "#333", fillOpacity: 1 })
        .bindTooltip(`${esc(t.code)} · ${esc(t.state)}`, { permanent: true, direction: "right", className: "tech-label" }).addTo(layer);
      pts.push([t.lat, t.lon]);
    }
    if (!fitted && pts.length) { map.fitBounds(pts, { padding: [20, 20] }); fitted = true; }
  }

  // The deadline that can still be missed: response until assigned, then on site until arrived.
  function riskOf(q) {
    if (q.arrived_at) return { label: "on site", cls: "ok", due: null };
    const due = q.assigned_at ? q.onsite_due : q.response_due;
    const c = countdown(due);
    return { label: q.assigned_at ? "on site in" : "respond in", cls: q.eta_late ? "late" : c.cls, due };
  }

  function drawQueue() {
    const options = data.technicians.map((t) => `<option value="${t.id}">${esc(t.code)} – ${esc(t.state)} (${t.active_jobs} job${t.active_jobs === 1 ? "" : "s"}; ${esc(t.skills.join(", "))})</option>`).join("");
    document.getElementById("queue").innerHTML = data.queue.map((q) => {
      const r = riskOf(q);
      return `<li class="${r.cls}" data-wo="${q.id}">
        <div class="row"><strong>#${q.id} ${esc(q.device_name)}</strong><span class="chip">${esc(q.tier)}</span>
          <span class="chip">${esc(q.source)}</span><span class="chip">${esc(q.status)}</span></div>
        <div class="muted">${esc(q.customer_name)} · ${esc(q.summary)}</div>
        <div class="row">${r.due ? `<span>${r.label}</span> <span class="clock" data-due="${esc(r.due)}"></span>` : `<span class="ok">on site since ${hm(q.arrived_at)}</span>`}
          ${!q.assigned_at ? `<span>· on site in</span> <span class="clock" data-due="${esc(q.onsite_due)}"></span>` : ""}
          ${q.assigned_at && !q.arrived_at ? `<span class="muted">response by ${hm(q.response_due)}; on site due ${hm(q.onsite_due)}</span>` : ""}
          ${q.technician_code ? `<span>tech <b>${esc(q.technician_code)}</b> ETA ${hm(q.eta)}${q.eta_late ? ' <b class="late">after deadline</b>' : ""}</span>` : '<b class="late">unassigned</b>'}</div>
        ${q.arrived_at ? "" : `<form class="assign" data-wo="${q.id}"><label><span class="sr-only">Technician for work order ${q.id}</span>
          <select name="technician_id" aria-label="Technician for work order ${q.id}">${options}</select></label>
          <button type="submit" class="secondary">${q.technician_id ? "Reassign" : "Assign"}</button></form>`}
      </li>`;
    }).join("") || '<li class="ok">No open incidents.</li>';
    for (const form of document.querySelectorAll("form.assign")) {
      const q = data.queue.find((x) => String(x.id) === form.dataset.wo);
      if (q?.technician_id) form.elements.technician_id.value = q.technician_id;
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const btn = form.querySelector("button"); btn.disabled = true;
        try { await api(`/api/board/work-orders/${form.dataset.wo}/assign`, { method: "POST", body: { technician_id: Number(form.elements.technician_id.value) } }); await refresh(); }
        catch (e) { alert(`Assignment failed: ${e.message}`); btn.disabled = false; }
      });
    }
    tick();
  }

  function drawLanes() {
    const t0 = now() - LANE_BEFORE_MS;
    const pos = (ms) => Math.max(0, Math.min(100, ((ms - t0) / LANE_SPAN_MS) * 100));
    document.getElementById("lanes").innerHTML = data.technicians.map((t) => {
      const jobs = data.queue.filter((q) => q.technician_id === t.id && q.eta).sort((a, b) => Date.parse(a.eta) - Date.parse(b.eta));
      const blocks = jobs.map((q) => {
        const start = Date.parse(q.arrived_at || q.eta), left = pos(start), width = Math.max(2, pos(start + q.estimated_minutes * 60e3) - left);
        return `<div class="job ${q.eta_late ? "late" : esc(q.status)}" style="left:${left}%;width:${width}%" title="#${q.id} ${esc(q.device_name)} ETA ${hm(q.eta)}">#${q.id} ${hm(q.eta)}</div>`;
      }).join("");
      return `<div class="lane"><div><b>${esc(t.code)}</b> <span class="muted">${esc(t.state)}</span></div>
        <div class="track" role="list" aria-label="Jobs of ${esc(t.code)}"><div class="now-line" style="left:${pos(now())}%"></div>${blocks}</div></div>`;
    }).join("");
  }

  function pct(a, b) { return b ? `${Math.round((100 * a) / b)}%` : "–"; }
  async function drawKpis() {
    const rows = await api("/api/board/kpis");
    const total = rows.find((r) => r.region === "*" && r.tier === "*") || rows[0];
    const cell = (v, label) => `<div class="kpi"><b>${v}</b><span>${label}</span></div>`;
    document.getElementById("kpi-strip").innerHTML = cell(total.incidents, "incidents today")
      + cell(pct(total.responded_in_time, total.response_judged), "response within SLA (15 min)")
      + cell(pct(total.onsite_in_time, total.onsite_judged), "on site within SLA (2 h)")
      + cell(pct(total.first_visit_fixes, total.completed), "first-visit fix")
      + cell(total.nps ?? "–", `NPS (${total.nps_answers} answers)`);
    document.getElementById("kpi-table").innerHTML = `<tr><th scope="col">Region</th><th scope="col">Tier</th><th scope="col">Incidents</th><th scope="col">Response</th><th scope="col">On site</th><th scope="col">First-visit fix</th><th scope="col">NPS</th></tr>`
      + rows.map((r) => `<tr><td>${r.region === "*" ? "all" : esc(r.region)}</td><td>${r.tier === "*" ? "all" : esc(r.tier)}</td><td>${r.incidents}</td><td>${pct(r.responded_in_time, r.response_judged)}</td><td>${pct(r.onsite_in_time, r.onsite_judged)}</td><td>${pct(r.first_visit_fixes, r.completed)}</td><td>${r.nps ?? "–"}</td></tr>`).join("");
  }

  function tick() {
    for (const el of document.querySelectorAll("[data-due]")) {
      const c = countdown(el.dataset.due);
      el.textContent = c.text; el.className = `clock ${c.cls}`;
    }
  }

  let busy = false;
  async function refresh() {
    if (busy) return; busy = true;
    try {
      data = await api("/api/board");
      QF.setServerNow(data.now);
      drawQueue(); drawLanes(); drawMap();
      await drawKpis();
    } finally { busy = false; }
  }

  async function loadDevices() {
    const devices = await api("/api/devices?limit=5000");
    document.getElementById("devices").innerHTML = devices.map((d) => `<option value="${esc(d.id)}">${esc(d.name)}</option>`).join("");
  }

  document.getElementById("intake").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target), msg = document.getElementById("intake-msg");
    try {
      const r = await api("/api/board/incidents", { method: "POST", body: {
        device_id: f.get("device_id"), source: f.get("source"), summary: f.get("summary"), reported_by: f.get("reported_by") || null,
        severity: Number(f.get("severity")), required_skills: f.get("skill") ? [f.get("skill")] : [] } });
      msg.className = "msg ok"; msg.textContent = `Incident #${r.incident_id} created (work order #${r.work_order_id}); on site due ${hm(r.onsite_due)}.`;
      ev.target.reset(); await refresh();
    } catch (e) { msg.className = "msg"; msg.textContent = `Not created: ${e.message}`; }
  });

  QF.start(document.getElementById("login"), ["admin", "dispatcher"], async () => {
    document.getElementById("app").hidden = false;
    const first = await api("/api/board");
    initMap(first.tile_url);
    await refresh(); loadDevices();
    setInterval(tick, 1000);
    setInterval(drawLanes, 60000);
    const live = document.getElementById("live");
    QF.live(refresh, (on) => { live.textContent = on ? "live" : "reconnecting…"; live.className = `chip ${on ? "ok" : "risk"}`; });
  });
})();
