// The dispatcher's route board: map, SLA-risk queue with live countdowns, timeline lanes, intake, KPIs.
"use strict";
(() => {
  const { api, esc, hm, countdown, now, label } = QF; // QF.t, not t: `t` names a technician here
  const STATE_COLOUR = { free: "#0f6b23", travelling: "#0a58ca", on_site: "#6a3fb5", off: "#6b7280" };
  const LANE_BEFORE_MS = 30 * 60e3, LANE_SPAN_MS = 4.5 * 3600e3; // lanes show now-30 min .. now+4 h
  let map = null, layer = null, fitted = false, data = { technicians: [], queue: [] };
  // Optional data, drawn when the server offers it: the optimiser's plan, whole routes with depot pick-ups
  // (GET /api/board/routes), parts in transit (GET /api/spares/in-transit). An endpoint that answers 404 (an
  // older server, no plan yet) or fails is simply left out; the board works without it.
  let plan = null, routes = new Map(), inTransit = null, escalationQueues = null;
  const absent = new Set(); // endpoints that answered 404/405: not asked again on this page
  // Return visits (#15 item 3): the queue says which visit a job is and why the one before failed (board.visit.*).
  function visitChip(q) {
    if (!(q.visit_no > 1)) return "";
    const why = q.previous_outcome ? QF.t(`board.visit.why.${q.previous_outcome}`) : "";
    const nth = (n) => QF.t("board.visit.nth", { n });
    return `<span class="chip late return-visit">${esc(nth(q.visit_no))}${why ? ` · ${esc(nth(q.visit_no - 1))}: ${esc(why)}` : ""}</span>`;
  }
  function travelText(q) {
    if (!q.departed_at) return "";
    const end = q.arrived_at ? Date.parse(q.arrived_at) : now();
    const n = Math.max(0, Math.round((end - Date.parse(q.departed_at)) / 60e3));
    return `<span class="muted travel">${esc(QF.t("board.visit.setOff", { at: hm(q.departed_at) }))} · ${esc(QF.t("board.visit.travel", { n }))}</span>`;
  }
  async function optional(path) {
    if (absent.has(path)) return null;
    try { return await api(path); } catch (e) {
      if (e instanceof QF.HttpError && (e.status === 404 || e.status === 405) && path !== "/api/plans/current") absent.add(path);
      if (e instanceof QF.HttpError && e.status === 401) throw e;
      return null;
    }
  }
  const techById = () => new Map(data.technicians.map((t) => [t.id, t]));
  const codeOf = (id) => techById().get(id)?.code || (id == null ? QF.t("board.nobody") : `#${id}`);

  // Routes from GET /api/board/routes ({technician_id, stops}[] or {routes: [...]} or {id: stops}); without it,
  // from the current plan's routes. Stops: {work_order_id|null, kind: job|pickup, seq, eta, lat, lon, location_name}.
  function normaliseRoutes(raw, fromPlan) {
    const out = new Map();
    let list = raw?.routes ?? raw;
    if (list && !Array.isArray(list) && typeof list === "object") list = Object.entries(list).map(([k, v]) => (Array.isArray(v) ? { technician_id: Number(k), stops: v } : { technician_id: Number(k), ...v }));
    for (const r of Array.isArray(list) ? list : []) {
      const stops = (r.stops || []).filter((x) => Number.isFinite(x?.lat) && Number.isFinite(x?.lon))
        .map((x) => ({ ...x, kind: x.kind === "pickup" ? "pickup" : "job", location_name: x.location_name ?? x.depot_name ?? null }))
        .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
      if (r.technician_id != null && stops.length) out.set(Number(r.technician_id), stops);
    }
    if (!out.size && fromPlan?.routes) return normaliseRoutes(fromPlan.routes, null);
    return out;
  }

  function initMap(tileUrl) {
    if (typeof L === "undefined") { document.getElementById("map").textContent = QF.t("board.map.noLibrary"); return; }
    map = L.map("map", { zoomSnap: 0.25, attributionControl: !!tileUrl || !!window.QFBasemap });
    if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 18, attribution: QF.t("board.map.tiles") }).addTo(map);
    else if (window.QFBasemap) QFBasemap.draw(map); // no tile server: Natural Earth land, water, borders (basemap.js)
    layer = L.layerGroup().addTo(map);
    map.setView([51.92, 4.48], 11);
  }

  function drawMap() {
    if (!map) return;
    layer.clearLayers();
    const techs = new Map(data.technicians.map((t) => [t.id, t]));
    const pts = [];
    for (const [tid, stops] of routes) {
      const t = techs.get(tid);
      if (!t) continue;
      const path = [[t.lat, t.lon], ...stops.map((x) => [x.lat, x.lon])];
      L.polyline(path, { color: STATE_COLOUR[t.state] || "#0a58ca", weight: 3, opacity: 0.8, className: "route" })
        .bindTooltip(esc(QF.t("board.map.routeStops", { tech: t.code, count: stops.length }))).addTo(layer);
      for (const x of stops.filter((y) => y.kind === "pickup")) {
        const d = 0.003;
        L.polygon([[x.lat + d, x.lon], [x.lat, x.lon + d * 1.5], [x.lat - d, x.lon], [x.lat, x.lon - d * 1.5]],
          { color: "#5c3b00", weight: 2, fillColor: "#f0b429", fillOpacity: 0.9, className: "pickup" })
          .bindTooltip(esc(QF.t("board.map.pickup", { place: x.location_name || QF.t("board.depot"), tech: t.code, job: x.work_order_id ?? "none", eta: hm(x.eta) }))).addTo(layer);
        pts.push([x.lat, x.lon]);
      }
    }
    for (const q of data.queue) {
      const t = techs.get(q.technician_id);
      if (t && !q.arrived_at && !routes.has(t.id)) {
        L.polyline([[t.lat, t.lon], [q.lat, q.lon]], { color: q.eta_late ? "#a4000f" : "#0a58ca", weight: 2,
          dashArray: q.status === "assigned" ? "6 6" : null }).addTo(layer);
      }
      const late = riskOf(q).cls;
      L.rectangle([[q.lat - 0.002, q.lon - 0.003], [q.lat + 0.002, q.lon + 0.003]], {
        color: late === "late" ? "#a4000f" : late === "risk" ? "#c46a00" : "#14324a", weight: 2, fillOpacity: 0.6 })
        .bindTooltip(`#${q.id} ${esc(q.device_name)} · ${esc(q.customer_name)} (${esc(label("common.tier", q.tier))}) · ${esc(label("common.woStatus", q.status))}`).addTo(layer);
      pts.push([q.lat, q.lon]);
    }
    for (const t of data.technicians) {
      L.circleMarker([t.lat, t.lon], { radius: 8, color: "#fff", weight: 2, fillColor: STATE_COLOUR[t.state] || "#333", fillOpacity: 1 })
        .bindTooltip(`${esc(t.code)} · ${esc(label("common.techState", t.state))}`, { permanent: true, direction: "right", className: "tech-label" }).addTo(layer);
      pts.push([t.lat, t.lon]);
    }
    if (!fitted && pts.length) { map.fitBounds(pts, { padding: [20, 20] }); fitted = true; }
  }

  // The clock that can still be missed: the promise (service target: respond 15 min, on site 2 h from the
  // incident's opening) until assigned, then on site until arrived. The contract deadline, which may be a day
  // later, is shown beside it but never as the headline: a dispatcher works to the promise.
  function riskOf(q) {
    if (q.status === "on_hold") return { label: "", cls: "held", due: null, held: true }; // its clock: QFLifecycle.badges
    const booked = QFLifecycle.risk(q); // waiting for the customer's window
    if (booked) return booked;
    if (q.arrived_at) return { label: QF.t("board.risk.onSite"), cls: "ok", due: null };
    const due = q.assigned_at ? (q.onsite_target || q.onsite_due) : (q.response_target || q.response_due);
    const c = countdown(due);
    return { label: q.assigned_at ? QF.t("board.risk.onSiteIn") : QF.t("board.risk.respondIn"), cls: q.eta_late || q.eta_past_target ? "late" : c.cls, due };
  }

  // The optimiser's proposals: jobs the current plan gives to a technician other than the one holding them
  // (including jobs not assigned yet); accepting one pins the job to the proposed technician.
  function planned() {
    const out = new Map();
    for (const r of plan?.routes || []) for (const x of r.stops || []) {
      if (x.kind === "job" && x.work_order_id != null) out.set(x.work_order_id, { technician_id: r.technician_id, seq: x.seq, eta: x.eta });
    }
    return out;
  }
  function proposals() {
    const p = planned();
    return data.queue.filter((q) => {
      const x = p.get(q.id);
      return x && !q.arrived_at && q.status !== "en_route" && x.technician_id !== q.technician_id && q.pinned_technician_id !== x.technician_id;
    }).map((q) => ({ q, to: p.get(q.id) }));
  }

  function say(text, ok = true) {
    const el = document.getElementById("board-msg");
    el.className = `msg ${ok ? "ok" : ""}`; el.textContent = text;
  }

  // One control action: POST, say what happened, redraw, and keep keyboard focus on the same control.
  // When the control itself goes away (Lock becomes Release and back), focus moves to its counterpart.
  async function control(btn, path, body, done, thenKey = null) {
    const focusKey = btn.dataset.key;
    btn.disabled = true;
    try {
      const r = await api(path, { method: "POST", body });
      say(done(r));
      await refresh();
    } catch (e) { say(QF.t("board.notDone", { error: e.message }), false); btn.disabled = false; return; }
    const find = (k) => k && (document.querySelector(`[data-key="${CSS.escape(k)}"]`) || document.getElementById(k));
    const again = find(focusKey) || find(thenKey);
    (again && !again.disabled ? again : document.getElementById("queue-h")).focus();
  }

  function drawProposals() {
    const list = proposals(), card = document.getElementById("plan-card");
    card.hidden = !plan;
    if (!plan) return;
    document.getElementById("plan-meta").textContent = QF.t("board.plan.meta", { id: plan.id, at: hm(plan.created_at), trigger: plan.trigger, dropped: (plan.dropped || []).length });
    document.getElementById("proposals").innerHTML = list.map(({ q, to }) => `<li data-wo="${q.id}">
        <span><b>#${q.id}</b> ${esc(q.device_name)}: ${q.technician_id ? esc(codeOf(q.technician_id)) : esc(QF.t("board.unassigned"))} → <b>${esc(codeOf(to.technician_id))}</b>, ${esc(QF.t("board.plan.stop", { n: to.seq + 1, eta: hm(to.eta) }))}</span>
        <button type="button" class="secondary" data-key="accept-${q.id}" data-accept="${q.id}" data-tech="${to.technician_id}">${esc(QF.t("board.plan.accept"))}<span class="sr-only"> ${esc(QF.t("board.plan.acceptFor", { id: q.id }))}</span></button></li>`).join("")
      || `<li class="muted">${esc(QF.t("board.plan.none"))}</li>`;
    const all = document.getElementById("accept-all");
    all.hidden = list.length < 2;
    for (const b of document.querySelectorAll("[data-accept]")) {
      b.addEventListener("click", () => control(b, `/api/work-orders/${b.dataset.accept}/pin`, { technician_id: Number(b.dataset.tech) },
        () => QF.t("board.plan.accepted", { id: b.dataset.accept, tech: codeOf(Number(b.dataset.tech)) }),
        document.querySelector("[data-accept]:not([data-accept='" + b.dataset.accept + "'])")?.dataset.key || "plan-h"));
    }
  }

  async function acceptAll(ev) {
    const btn = ev.currentTarget, list = proposals();
    btn.disabled = true;
    let ok = 0; const failed = [];
    for (const { q, to } of list) {
      try { await api(`/api/work-orders/${q.id}/pin`, { method: "POST", body: { technician_id: to.technician_id } }); ok++; }
      catch (e) { failed.push(`#${q.id} (${e.message})`); }
    }
    say(QF.t("board.plan.acceptedAll", { ok, total: list.length, failed: failed.length ? failed.join(", ") : "none" }), !failed.length);
    btn.disabled = false;
    await refresh();
    document.getElementById("plan-h").focus();
  }

  function drawQueue() {
    const options = data.technicians.map((t) => `<option value="${t.id}">${esc(t.code)} – ${esc(label("common.techState", t.state))} (${esc(QF.t("board.techOption", { jobs: t.active_jobs, skills: t.skills.map((s) => label("common.skill", s)).join(", ") }))})</option>`).join("");
    // A redraw (live update) must not throw away a half-made choice or the keyboard focus.
    const chosen = new Map([...document.querySelectorAll("form.assign select[data-touched]")].map((el) => [el.form.dataset.wo, el.value]));
    const focusKey = document.activeElement?.dataset?.key;
    const p = planned();
    document.getElementById("queue").innerHTML = data.queue.map((q) => {
      const r = riskOf(q), x = p.get(q.id);
      const controls = q.pinned_technician_id != null || q.locked;
      return `<li class="${r.cls}" data-wo="${q.id}">
        <div class="row"><strong>#${q.id} ${esc(q.device_name)}</strong><button type="button" class="link" data-asset="${esc(q.device_id)}">${esc(QF.t("board.asset.link"))}<span class="sr-only"> ${esc(q.device_name)}</span></button><span class="chip">${esc(label("common.tier", q.tier))}</span>
          <span class="chip">${esc(label("common.source", q.source))}</span><span class="chip">${esc(label("common.woStatus", q.status))}</span>${visitChip(q)}
          ${q.pinned_technician_id != null ? `<span class="chip pin">${esc(QF.t("board.queue.pinnedTo", { tech: codeOf(q.pinned_technician_id) }))}</span>` : ""}
          ${q.locked ? `<span class="chip pin">${esc(QF.t("board.queue.locked"))}</span>` : ""}
          ${QFLifecycle.badges(q)}</div>
        <div class="muted">${esc(q.customer_name)} · ${esc(I18N.message(q.summary_message, q.summary))}</div>
        <div class="row">${r.held ? "" : r.due ? `<span>${esc(r.label)}</span> <span class="clock" data-due="${esc(r.due)}"></span>` : `<span class="ok">${esc(QF.t("board.queue.onSiteSince", { at: hm(q.arrived_at) }))}</span>`}
          ${!q.assigned_at && !r.held && !r.window ? `<span>· ${esc(QF.t("board.risk.onSiteIn"))}</span> <span class="clock" data-due="${esc(q.onsite_target || q.onsite_due)}"></span>` : ""}
          ${!q.arrived_at ? `<span class="muted">${esc(QF.t("board.queue.promise", { promise: hm(q.onsite_target || q.onsite_due), contract: hm(q.onsite_due) }))}</span>` : ""}
          ${q.technician_code ? `<span>${esc(QF.t("board.queue.tech"))} <b>${esc(q.technician_code)}</b> ${esc(QF.t("board.eta", { eta: hm(q.eta) }))}${q.eta_late ? ` <b class="late">${esc(QF.t("board.queue.afterContract"))}</b>` : q.eta_past_target ? ` <b class="late">${esc(QF.t("board.queue.afterPromise"))}</b>` : ""}</span>` : r.held ? "" : `<b class="late">${esc(QF.t("board.unassigned"))}</b>`}
          ${x ? `<span class="muted">${esc(QF.t("board.queue.plan", { tech: codeOf(x.technician_id), n: x.seq + 1, eta: hm(x.eta) }))}</span>` : ""}${travelText(q)}</div>
        ${QFLifecycle.actions(q)}
        ${q.arrived_at || r.held ? "" : `<form class="assign" data-wo="${q.id}"><label><span class="sr-only">${esc(QF.t("board.queue.techFor", { id: q.id }))}</span>
          <select name="technician_id" aria-label="${esc(QF.t("board.queue.techFor", { id: q.id }))}" data-key="sel-${q.id}">${options}</select></label>
          <button type="submit" class="secondary" data-key="assign-${q.id}">${esc(q.technician_id ? QF.t("board.queue.reassign") : QF.t("board.queue.assign"))}</button>
          <button type="button" class="secondary" data-act="pin" data-key="pin-${q.id}" title="${esc(QF.t("board.queue.pinHint"))}">${esc(QF.t("board.queue.pin"))}<span class="sr-only"> ${esc(QF.t("board.queue.pinFor", { id: q.id }))}</span></button>
          ${q.locked ? "" : `<button type="button" class="secondary" data-act="lock" data-key="lock-${q.id}" title="${esc(QF.t("board.queue.lockHint"))}">${esc(QF.t("board.queue.lock"))}<span class="sr-only"> ${esc(QF.t("board.queue.workOrder", { id: q.id }))}</span></button>`}
          ${controls ? `<button type="button" class="secondary" data-act="release" data-key="release-${q.id}" title="${esc(QF.t("board.queue.releaseHint"))}">${esc(QF.t("board.queue.release"))}<span class="sr-only"> ${esc(QF.t("board.queue.workOrder", { id: q.id }))}</span></button>` : ""}</form>`}
      </li>`;
    }).join("") || `<li class="ok">${esc(QF.t("board.queue.empty"))}</li>`;
    for (const form of document.querySelectorAll("form.assign")) {
      const q = data.queue.find((x) => String(x.id) === form.dataset.wo);
      const sel = form.elements.technician_id, wo = form.dataset.wo;
      sel.addEventListener("change", () => { sel.dataset.touched = "1"; });
      if (chosen.has(wo)) { sel.value = chosen.get(wo); sel.dataset.touched = "1"; }
      else if (q?.pinned_technician_id != null) sel.value = q.pinned_technician_id;
      else if (q?.technician_id) sel.value = q.technician_id;
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const tid = Number(sel.value);
        control(form.querySelector("button[type=submit]"), `/api/board/work-orders/${wo}/assign`, { technician_id: tid },
          (r) => QF.t("board.queue.assigned", { id: wo, tech: codeOf(tid), eta: hm(r.eta) }));
      });
      for (const b of form.querySelectorAll("button[data-act]")) {
        b.addEventListener("click", () => {
          const act = b.dataset.act, tid = Number(sel.value);
          const msg = { pin: () => QF.t("board.queue.pinned", { id: wo, tech: codeOf(tid) }),
                        lock: () => QF.t("board.queue.lockedDone", { id: wo }),
                        release: () => QF.t("board.queue.released", { id: wo }) }[act];
          control(b, `/api/work-orders/${wo}/${act}`, act === "pin" ? { technician_id: tid } : undefined, msg,
            { lock: `release-${wo}`, release: `lock-${wo}` }[act]);
        });
      }
    }
    QFLifecycle.bind(data.queue, say, refresh); // cancel / reschedule / hold / resume (board-lifecycle.js)
    if (focusKey) document.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
    tick();
  }

  function drawLanes() {
    const t0 = now() - LANE_BEFORE_MS;
    const pos = (ms) => Math.max(0, Math.min(100, ((ms - t0) / LANE_SPAN_MS) * 100));
    const byId = new Map(data.queue.map((q) => [q.id, q]));
    const block = (startMs, minutes, cls, label, title) => {
      const left = pos(startMs), width = Math.max(2, pos(startMs + minutes * 60e3) - left);
      return `<div class="job ${cls}" role="listitem" style="left:${left}%;width:${width}%" title="${title}">${label}</div>`;
    };
    document.getElementById("lanes").innerHTML = data.technicians.map((t) => {
      let blocks;
      const stops = routes.get(t.id);
      if (stops) { // the whole route: every job in order and the depot pick-ups between them
        blocks = stops.filter((x) => x.eta).map((x) => {
          const q = x.work_order_id != null ? byId.get(x.work_order_id) : null;
          const start = Date.parse(q?.arrived_at || x.eta);
          const mins = x.start && x.end ? Math.max(5, (Date.parse(x.end) - Date.parse(x.start)) / 60e3) : x.kind === "pickup" ? 10 : q?.estimated_minutes || 45;
          if (x.kind === "pickup") return block(start, mins, "pickup", `⇪ ${esc(x.location_name || QF.t("board.depot"))}`, esc(QF.t("board.lanes.pickup", { place: x.location_name || QF.t("board.depot"), job: x.work_order_id ?? "none", eta: hm(x.eta) })));
          return block(start, mins, q?.eta_late ? "late" : esc(q?.status || "planned"), `#${x.work_order_id} ${hm(x.eta)}`, `#${x.work_order_id} ${esc(q?.device_name || x.location_name || "")} ${esc(QF.t("board.eta", { eta: hm(x.eta) }))}`);
        }).join("");
      } else {
        const jobs = data.queue.filter((q) => q.technician_id === t.id && q.eta).sort((a, b) => Date.parse(a.eta) - Date.parse(b.eta));
        blocks = jobs.map((q) => block(Date.parse(q.arrived_at || q.eta), q.estimated_minutes, q.eta_late ? "late" : esc(q.status), `#${q.id} ${hm(q.eta)}`, `#${q.id} ${esc(q.device_name)} ${esc(QF.t("board.eta", { eta: hm(q.eta) }))}`)).join("");
      }
      return `<div class="lane"><div><b>${esc(t.code)}</b> <span class="muted">${esc(label("common.techState", t.state))}</span></div>
        <div class="track" role="list" aria-label="${esc(QF.t("board.lanes.jobsOf", { tech: t.code }))}"><div class="now-line" style="left:${pos(now())}%"></div>${blocks}</div></div>`;
    }).join("");
  }

  // {count, shipments: [...]} (or a bare list): the count, and what is coming from where on hover/focus.
  function transitCell(t) {
    const list = Array.isArray(t) ? t : t.shipments || t.items || null;
    if (!Number.isFinite(t.count) && !Array.isArray(list)) return ""; // not the shape we know: leave it out
    const count = Number.isFinite(t.count) ? t.count : list.length;
    const what = (list || []).slice(0, 12).map((x) => `${x.qty ?? ""} ${x.sku ?? ""} ${x.from_name || x.from || ""} → ${x.to_name || x.to || x.location_name || ""}${x.eta ? ` ${QF.t("board.eta", { eta: hm(x.eta) })}` : ""}`.trim()).join("; ");
    return `<div class="kpi" id="kpi-transit" tabindex="0" title="${esc(what)}"><b>${I18N.number(count)}</b><span>${esc(QF.t("board.kpi.inTransit"))}</span>${what ? `<span class="sr-only">: ${esc(what)}</span>` : ""}</div>`;
  }

  // GET /api/planning/escalations: {"2": {name, items, breached, due_soon}, "3": {...}} -> open escalations
  // (open or acknowledged) over all tiers, breached ones called out; an unknown shape is left out.
  function escalationsCell(q) {
    const tiers = q && typeof q === "object" && !Array.isArray(q) ? Object.values(q).filter((t) => t && Array.isArray(t.items)) : [];
    if (!tiers.length) return "";
    const open = tiers.reduce((n, t) => n + t.items.length, 0), breached = tiers.reduce((n, t) => n + (Number(t.breached) || 0), 0);
    return `<a class="kpi kpi-link" id="kpi-escalations" href="/planning#esc-h"><b>${I18N.number(open)}</b><span>${esc(QF.t("board.kpi.escalations", { open, breached }))}</span></a>`;
  }

  // GET /api/planning/load: incidents so far today vs the forecast for the same hours, and the next day's roster
  // shortfall; re-read every 5 min (the forecast moves by the hour), left out when the call fails.
  let load = null, loadAt = 0;
  async function loadCell() {
    if (Date.now() - loadAt > 300e3) { loadAt = Date.now(); load = await optional("/api/planning/load"); }
    if (!load || !load.forecast) return "";
    const short = load.roster?.short_cells ? load.roster.short_technicians : 0;
    return `<a class="kpi kpi-link" id="kpi-load" href="/planning#fc-h"><b>${esc(I18N.number(load.actual_so_far))} / ${esc(I18N.number(load.forecast_so_far))}</b><span>${esc(QF.t("board.kpi.load", { short }))}</span></a>`;
  }

  function pct(a, b) { return b ? I18N.percent(a / b) : "–"; }
  async function drawKpis(rows) {
    const loadHtml = await loadCell();
    const total = rows.find((r) => r.region === "*" && r.tier === "*") || rows[0];
    const cell = (v, text, id) => `<div class="kpi"${id ? ` id="${id}"` : ""}><b>${esc(v)}</b><span>${esc(text)}</span></div>`;
    const num = (v, d) => (v == null ? "–" : I18N.number(v, d));
    document.getElementById("kpi-strip").innerHTML = cell(num(total.incidents), QF.t("board.kpi.incidents"))
      + cell(pct(total.response_15min_met, total.response_15min_judged), QF.t("board.kpi.responsePromise", { min: total.promise_response_min }), "kpi-response-promise")
      + cell(pct(total.onsite_2h_met, total.onsite_2h_judged), QF.t("board.kpi.onsitePromise", { hours: total.promise_onsite_min / 60 }), "kpi-onsite-promise")
      + cell(pct(total.onsite_in_time, total.onsite_judged), QF.t("board.kpi.onsiteContract"), "kpi-onsite-contract")
      + cell(pct(total.first_visit_fixed, total.first_visit_judged), QF.t("board.kpi.ftf"), "kpi-ftf")
      + cell(num(total.idle_while_waiting_min_per_technician), QF.t("board.kpi.idle"), "kpi-idle")
      + cell(num(total.nps), QF.t("board.kpi.nps", { answers: total.nps_answers }))
      + (inTransit ? transitCell(inTransit) : "")
      + escalationsCell(escalationQueues) + loadHtml;
    document.getElementById("kpi-table").innerHTML = `<tr>${["region", "tier", "incidents", "onsitePromise", "onsiteContract", "ftf", "nps"].map((k) => `<th scope="col">${esc(QF.t(`board.kpiTable.${k}`))}</th>`).join("")}</tr>`
      + rows.map((r) => `<tr><td>${r.region === "*" ? esc(QF.t("board.kpiTable.all")) : esc(r.region)}</td><td>${r.tier === "*" ? esc(QF.t("board.kpiTable.all")) : esc(label("common.tier", r.tier))}</td><td>${I18N.number(r.incidents)}</td><td>${pct(r.onsite_2h_met, r.onsite_2h_judged)}</td><td>${pct(r.onsite_in_time, r.onsite_judged)}</td><td>${pct(r.first_visit_fixed, r.first_visit_judged)}</td><td>${r.nps ?? "–"}</td></tr>`).join("");
  }

  function tick() {
    for (const el of document.querySelectorAll("[data-due]")) {
      const c = countdown(el.dataset.due);
      el.textContent = c.text; el.className = `clock ${c.cls}`;
    }
  }

  // A change that arrives while a refresh runs is not dropped: one more pass follows the running one and covers
  // every change that came meanwhile (without it the board stayed stale until the next change). Whoever asked (a
  // live change, an action's own redraw) gets a promise of that last pass, so focus is placed after it.
  let running = null, again = false;
  function refresh() {
    if (running) { again = true; return running; }
    running = (async () => {
      try { do { again = false; await refreshOnce(); } while (again); } finally { running = null; }
    })();
    return running;
  }

  // One round trip per refresh (GET /api/board/view: the board, plan, routes, parts in transit, escalations and
  // KPIs under one ETag), not six: what every open board repeats on each live change.
  async function refreshOnce() {
    const v = await api("/api/board/view");
    data = v.board; plan = v.plan; inTransit = v.in_transit; routes = normaliseRoutes(v.routes, v.plan);
    escalationQueues = v.escalations;
    // v.now may be a revalidated (304) copy's; QF.api took server time from X-Server-Now already.
    drawProposals(); drawQueue(); drawLanes(); drawMap();
    await drawKpis(v.kpis);
  }

  // GET /api/detection/health: devices whose data waits for detection longer than the threshold (the watchdog's
  // alarm) and devices with a clock fault. Shown only when something is wrong; polled, not on every live change.
  async function drawDetection() {
    const h = await optional("/api/detection/health");
    const box = document.getElementById("detection");
    if (!h || (!h.alarm && !h.stalled.length && !h.clock_faults.length)) { box.hidden = true; return; }
    box.hidden = false;
    const msg = document.getElementById("detection-msg");
    msg.className = h.alarm || h.stalled.length ? "msg risk" : "msg";
    msg.textContent = h.stalled.length
      ? QF.t("board.detection.stalled", { count: h.stalled.length, seconds: Math.round(h.threshold_s) })
      : (h.alarm ? QF.t("board.detection.alarm") : QF.t("board.detection.ok"));
    document.getElementById("detection-list").innerHTML =
      h.stalled.slice(0, 20).map((d) => `<li>${esc(d.device_id)}: ${esc(QF.t("board.detection.waiting", { seconds: Math.round(d.waiting_s), batches: d.batches }))}</li>`).join("") +
      h.clock_faults.slice(0, 20).map((f) => `<li>${esc(f.name)}: ${esc(f.offset_s == null ? QF.t("board.detection.clockFault") : QF.t("board.detection.clockAhead", { hours: I18N.number(f.offset_s / 3600, 1) }))}</li>`).join("");
  }

  async function loadDevices() {
    const devices = await api("/api/devices?limit=5000");
    document.getElementById("devices").innerHTML = devices.map((d) => `<option value="${esc(d.id)}">${esc(d.name)}</option>`).join("");
    if (map && window.QFBasemap) QFBasemap.places(map, devices, await api("/api/spares/locations").catch(() => []));
  }

  document.getElementById("intake").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target), msg = document.getElementById("intake-msg");
    try {
      const r = await api("/api/board/incidents", { method: "POST", body: {
        device_id: f.get("device_id"), source: f.get("source"), summary: f.get("summary"), reported_by: f.get("reported_by") || null,
        severity: Number(f.get("severity")), required_skills: f.get("skill") ? [f.get("skill")] : [] } });
      msg.className = "msg ok"; msg.textContent = QF.t("board.intake.created", { incident: r.incident_id, wo: r.work_order_id, due: hm(r.onsite_due) });
      ev.target.reset(); await refresh();
    } catch (e) { msg.className = "msg"; msg.textContent = QF.t("board.intake.failed", { error: e.message }); }
  });

  document.getElementById("accept-all").addEventListener("click", acceptAll);

  QF.start(document.getElementById("login"), ["admin", "dispatcher"], async () => {
    document.getElementById("app").hidden = false;
    const first = await api("/api/board");
    initMap(first.tile_url);
    await refresh(); loadDevices(); drawDetection();
    setInterval(tick, 1000);
    setInterval(drawDetection, 15000);
    setInterval(drawLanes, 60000);
    const live = document.getElementById("live");
    QF.live(refresh, (on) => { live.textContent = on ? QF.t("common.live") : QF.t("common.reconnecting"); live.className = `chip ${on ? "ok" : "risk"}`; });
  });
})();
