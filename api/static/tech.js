// Technician phone view: today's jobs in route order; actions and escalations queued locally with a client id,
// replayed online (the server answers a replay with the first result, so nothing happens twice).
"use strict";
(() => {
  const { api, esc, hm, label } = QF;
  const QUEUE = "qf-tech-queue", JOBS = "qf-tech-jobs";
  let jobs = JSON.parse(localStorage.getItem(JOBS) || "[]");
  const queue = () => JSON.parse(localStorage.getItem(QUEUE) || "[]");
  const saveQueue = (q) => { localStorage.setItem(QUEUE, JSON.stringify(q)); showSync(); };
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : "10000000-1000-4000-8000-100000000000".replace(/[018]/g,
    (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));
  const NEXT = { assigned: ["en_route", "arrived"], en_route: ["arrived"], on_site: ["completed"] };
  const LABEL = { en_route: "tech.step.enRoute", arrived: "tech.step.arrived", completed: "tech.step.done" }; // catalogue keys
  const AFTER = { en_route: "en_route", arrived: "on_site", completed: "completed", not_fixed: "completed" };

  function showSync(text) {
    const el = document.getElementById("sync"), n = queue().length;
    el.hidden = !n && !text;
    el.textContent = text || (n ? QF.t(navigator.onLine ? "tech.sync.waiting" : "tech.sync.waitingOffline", { count: n }) : "");
  }

  // Queue items: {work_order_id, body: {action_id, ...}} (a job step), {kind: "escalate", work_order_id,
  // body: {escalation_key, ...}, draft} (an escalation with its evidence; draft = what the form held), or
  // {kind: "hold", work_order_id, body: {kind: "awaiting_parts", request_id, at}} (the job waits for a part: the
  // dispatcher's lifecycle route, replay-safe by request_id, dated at the tap).
  const itemId = (x) => x.body.action_id || x.body.escalation_key || x.body.request_id;
  const itemUrl = (x) => (x.kind === "escalate" ? `/api/planning/work-orders/${x.work_order_id}/escalate`
    : x.kind === "hold" ? `/api/work-orders/${x.work_order_id}/hold` : `/api/tech/jobs/${x.work_order_id}/actions`);

  // Replays queued items in order; stops at the first network failure and tries again later.
  let flushing = false;
  async function flush() {
    if (flushing) return; flushing = true;
    try {
      for (let q = queue(); q.length; q = queue()) {
        const item = q[0];
        try {
          const res = await api(itemUrl(item), { method: "POST", body: item.body });
          if (item.kind === "escalate") sent(item, res);
        } catch (e) {
          if (!(e instanceof QF.HttpError) || e.status === 401) break; // offline or signed out: keep it
          if (item.kind === "escalate") refused(item, e); // 4xx: refused for good, the draft comes back
          else if (item.kind === "hold") heldRefused(item, e);
          else QFVisit.refusedStep(jobs.find((j) => String(j.id) === String(item.work_order_id)), item.body, e);
        }
        saveQueue(queue().filter((x) => itemId(x) !== itemId(item)));
      }
    } finally { flushing = false; }
    showSync();
    if (!queue().length) await load();
    else draw();
  }

  // "Waiting for a part": the job leaves this technician's list once the server has it (the dispatcher plans
  // it again when the part is there); until then the phone shows it held, online or not.
  function awaitParts(job) {
    const body = { kind: "awaiting_parts", request_id: uuid(), at: new Date(QF.now()).toISOString() };
    epoch++;
    saveQueue([...queue(), { kind: "hold", work_order_id: job.id, body, before: job.status }]);
    job.status = "on_hold";
    job.notice = null;
    localStorage.setItem(JOBS, JSON.stringify(jobs));
    draw();
    flush();
  }
  function heldRefused(item, err) {
    const job = jobs.find((j) => String(j.id) === String(item.work_order_id));
    if (!job) return;
    job.status = item.before || job.status;
    job.notice = QFVisit.S.refused(err.message);
  }

  // Bumped whenever a step is queued: a job list answer requested before it is older than the phone's view.
  let epoch = 0;
  function act(job, action, extra = {}) {
    const body = { action_id: uuid(), action, at: new Date(QF.now()).toISOString(), ...extra };
    epoch++;
    saveQueue([...queue(), { work_order_id: job.id, body }]);
    if (AFTER[action]) job.status = AFTER[action]; // optimistic: the phone shows the step at once, online or not
    job.notice = null;
    localStorage.setItem(JOBS, JSON.stringify(jobs));
    draw();
    flush();
  }

  function chartSvg(points, limit, signal) {
    if (!points.length) return `<p class="muted">${esc(QF.t("tech.chart.none"))}</p>`;
    const W = 320, H = 120, P = 22;
    const xs = points.map((p) => Date.parse(p.bucket)), ys = points.map((p) => p.avg);
    const lo = Math.min(...ys, limit ?? Infinity), hi = Math.max(...ys, limit ?? -Infinity);
    const x = (t) => P + ((t - xs[0]) / Math.max(1, xs[xs.length - 1] - xs[0])) * (W - 2 * P);
    const y = (v) => H - P - ((v - lo) / Math.max(1e-9, hi - lo)) * (H - 2 * P);
    const line = points.map((p, i) => `${x(xs[i]).toFixed(1)},${y(p.avg).toFixed(1)}`).join(" ");
    return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(QF.t("tech.chart.label", { signal, count: ys.length, lo: I18N.number(lo, 1), hi: I18N.number(hi, 1) }))}">
      ${limit != null ? `<line x1="${P}" x2="${W - P}" y1="${y(limit)}" y2="${y(limit)}" stroke="#a4000f" stroke-dasharray="4 3"/><text x="${W - P}" y="${y(limit) - 3}" text-anchor="end">${esc(QF.t("tech.chart.limit", { limit: I18N.number(limit) }))}</text>` : ""}
      <polyline points="${line}" fill="none" stroke="#0a58ca" stroke-width="2"/>
      <text x="${P}" y="12">${esc(signal)}</text><text x="${P}" y="${H - 5}">${hm(points[0].bucket)}</text>
      <text x="${W - P}" y="${H - 5}" text-anchor="end">${hm(points[points.length - 1].bucket)}</text></svg>`;
  }

  async function loadChart(job) {
    const el = document.getElementById(`chart-${job.id}`);
    if (!el || !navigator.onLine) return;
    const ev = job.evidence || {};
    const start = new Date(Date.parse(ev.window_start || job.opened_at) - 30 * 60e3);
    const end = new Date(Math.max(Date.parse(ev.window_end || job.opened_at) + 15 * 60e3, start.getTime() + 60e3));
    try {
      const rows = await api(`/api/devices/${encodeURIComponent(job.device_id)}/telemetry?start=${start.toISOString()}&end=${end.toISOString()}&bucket_s=60`);
      const signal = ev.signal || rows[0]?.signal;
      el.innerHTML = chartSvg(rows.filter((r) => r.signal === signal), ev.limit, signal || QF.t("tech.chart.signal"));
    } catch (e) { el.textContent = QF.t("tech.chart.unavailable"); }
  }

  function cause(job) {
    const ev = job.evidence || {};
    const summary = I18N.message(job.summary_message, job.summary); // the viewer's language (migration 0821)
    if (ev.signal) return `${esc(summary)} <span class="muted">${esc(QF.t("tech.cause.worst", { worst: I18N.number(ev.worst), limit: I18N.number(ev.limit) }))}</span>`;
    return esc(summary);
  }

  // Parts per job (when the server sends them): [{sku, qty, source_kind: van|depot|courier, location_name, lat,
  // lon, status}]. Without the field the job shows no parts section; the phone works as before.
  const SOURCE = { van: "tech.parts.van", depot: "tech.parts.depot", courier: "tech.parts.courier" }; // catalogue keys
  const navTo = (p) => (Number.isFinite(p.lat) && Number.isFinite(p.lon) ? `geo:${p.lat},${p.lon}?q=${p.lat},${p.lon}(${encodeURIComponent(p.location_name || QF.t("tech.parts.pickup"))})` : null);
  function partsOf(j) { return Array.isArray(j.parts) ? j.parts.filter((p) => p && p.sku) : []; }
  function partsHtml(j) {
    const parts = partsOf(j);
    if (!parts.length) return "";
    return `<dt>${esc(QF.t("tech.job.parts"))}</dt><dd><ul class="parts">${parts.map((p) => {
      const where = p.source_kind === "van" ? esc(QF.t(SOURCE.van)) : esc(QF.t(SOURCE[p.source_kind] || "tech.parts.from", { place: p.location_name || "?" }));
      const nav = p.source_kind !== "van" ? navTo(p) : null;
      return `<li class="part ${esc(p.source_kind || "")}">${esc(p.qty ?? 1)} × <b>${esc(p.sku)}</b> – ${where}${p.status ? ` <span class="chip">${esc(label("tech.partStatus", p.status))}</span>` : ""}${nav ? ` <a href="${esc(nav)}">${esc(QF.t("tech.navigate"))}<span class="sr-only"> ${esc(QF.t("tech.navigateTo", { place: p.location_name || QF.t("tech.parts.pickup") }))}</span></a>` : ""}</li>`;
    }).join("")}</ul></dd>`;
  }
  // "Parts to collect and where": depot and courier parts of the active jobs, grouped by place in route order.
  function drawCollect() {
    const places = new Map();
    for (const j of jobs.filter((x) => x.status !== "completed")) {
      for (const p of partsOf(j).filter((x) => x.source_kind !== "van")) {
        const key = `${p.location_name || "?"}|${p.lat}|${p.lon}`;
        if (!places.has(key)) places.set(key, { p, items: [] });
        places.get(key).items.push({ ...p, job: j });
      }
    }
    const el = document.getElementById("collect");
    el.hidden = !places.size;
    document.getElementById("collect-list").innerHTML = [...places.values()].map(({ p, items }) => {
      const nav = navTo(p);
      return `<li><b>${esc(p.location_name || "?")}</b>${p.source_kind === "courier" ? ` ${esc(QF.t("tech.collect.courier"))}` : ""}: ${items.map((x) => `${esc(x.qty ?? 1)} × ${esc(x.sku)} ${esc(QF.t("tech.collect.for", { device: x.job.device_name }))}${x.status ? ` (${esc(label("tech.partStatus", x.status))})` : ""}`).join(", ")}
        ${nav ? `<a class="btn secondary" href="${esc(nav)}">${esc(QF.t("tech.navigate"))}<span class="sr-only"> ${esc(QF.t("tech.navigateTo", { place: p.location_name || QF.t("tech.parts.pickup") }))}</span></a>` : ""}</li>`;
    }).join("");
  }

  // Escalation to remote technical support (POST /api/planning/work-orders/{id}/escalate): queued like the job
  // steps, with an escalation_key generated here, so a replay after a dead zone returns the first escalation
  // instead of opening a second one. The job list carries each job's escalations (status, tier, answer clock,
  // answer); queued ones show as such until they are sent.
  const drafts = {}; // work order id -> {open, reason, notes, minutes, photo, photoName, msg}: survives re-draws
  function escalationItem(e) {
    return `<li class="esc ${esc(e.status)}"><b>${esc(e.tier ? label("tech.esc.tier", e.tier) : e.tier_name || QF.t("tech.esc.remoteSupport"))}</b>: ${esc(e.reason)} –
      <span class="chip">${esc(label("tech.esc.status", e.status))}</span>${e.status === "open" && e.respond_due ? ` <span class="muted">${esc(QF.t("tech.esc.due", { at: hm(e.respond_due) }))}</span>` : ""}
      ${e.resolution ? `<div class="answer">${esc(QF.t("tech.esc.answer", { text: e.resolution }))}${e.fix ? ` <span class="muted">${esc(QF.t("tech.esc.fix", { fix: e.fix }))}</span>` : ""}</div>` : ""}</li>`;
  }
  function escalationHtml(j) {
    const pending = queue().filter((x) => x.kind === "escalate" && String(x.work_order_id) === String(j.id));
    const list = (j.escalations || []).map(escalationItem).concat(pending.map((x) => `<li class="esc queued"><b>${esc(QF.t("tech.esc.remoteSupport"))}</b>: ${esc(x.body.reason)} –
      <span class="chip">${esc(QF.t(navigator.onLine ? "tech.esc.sending" : "tech.esc.queued"))}</span>${x.body.photos.length ? ` <span class="muted">${esc(QF.t("tech.esc.withPhoto"))}</span>` : ""}</li>`)).join("");
    const d = drafts[j.id] || {};
    const form = j.status === "completed" ? "" : `<details class="escalate" data-wo="${j.id}"${d.open ? " open" : ""}>
      <summary>${esc(QF.t("tech.esc.escalate"))}<span class="sr-only"> ${esc(QF.t("tech.esc.escalateWhat", { device: j.device_name }))}</span></summary>
      <form class="esc-form" data-wo="${j.id}">
        <label><span>${esc(QF.t("tech.esc.reason"))}</span><input name="reason" required maxlength="2000" value="${esc(d.reason || "")}"></label>
        <label><span>${esc(QF.t("tech.esc.notes"))}</span><textarea name="notes" rows="2" maxlength="8000">${esc(d.notes || "")}</textarea></label>
        <label><span>${esc(QF.t("tech.esc.photo"))}</span><input name="photo" type="file" accept="image/*" capture="environment"></label>
        <p class="muted photo-state">${d.photo ? esc(QF.t("tech.esc.photoAttached", { name: d.photoName || "image" })) : ""}</p>
        <label><span>${esc(QF.t("tech.esc.window"))}</span><input name="minutes" inputmode="numeric" pattern="[0-9]{1,4}" value="${esc(d.minutes ?? 60)}"></label>
        <button type="submit">${esc(QF.t("tech.esc.send"))}</button>
        <p class="msg esc-msg" role="status" aria-live="polite">${esc(d.msg || "")}</p></form></details>`;
    return (list ? `<ul class="escalations" tabindex="-1" aria-label="${esc(QF.t("tech.esc.of", { device: j.device_name }))}">${list}</ul>` : "") + form;
  }

  // A phone photo is several MB: scaled to ≤ 1024 px and sent as a JPEG data URL (the API's photos are strings).
  function photoDataUrl(file) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file), img = new Image();
      img.onload = () => {
        const k = Math.min(1, 1024 / Math.max(img.width, img.height));
        const c = document.createElement("canvas");
        c.width = Math.max(1, Math.round(img.width * k)); c.height = Math.max(1, Math.round(img.height * k));
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        URL.revokeObjectURL(url);
        resolve(c.toDataURL("image/jpeg", 0.7));
      };
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("not an image")); };
      img.src = url;
    });
  }

  // Queues the escalation (online or not) and sends it; the telemetry window is cut by the server when the
  // request arrives, so an escalation sent after a dead zone carries the window before it was sent.
  function sendEscalation(job, form) {
    const d = drafts[job.id] || (drafts[job.id] = {});
    const f = new FormData(form);
    const body = { escalation_key: uuid(), reason: String(f.get("reason")).trim(), notes: String(f.get("notes") || ""),
      photos: d.photo ? [d.photo] : [], telemetry_minutes: Math.max(0, Math.min(1440, parseInt(f.get("minutes"), 10) || 0)) };
    epoch++;
    try { saveQueue([...queue(), { kind: "escalate", work_order_id: job.id, body, draft: { photoName: d.photoName } }]); }
    catch (e) { // localStorage full (a large photo): keep the draft, say so
      d.msg = QF.t("tech.esc.storageFull");
      const el = document.querySelector(`form.esc-form[data-wo="${job.id}"] .esc-msg`);
      if (el) el.textContent = d.msg;
      return;
    }
    // draw() re-reads open forms into the drafts: empty and close this one first (not form.reset(): a re-draw
    // wrote the draft into the inputs' default values)
    form.reason.value = ""; form.notes.value = ""; form.minutes.value = "60"; form.photo.value = "";
    const det = form.closest("details");
    if (det) det.open = false;
    delete drafts[job.id];
    draw();
    document.querySelector(`li.job[data-wo="${job.id}"] .escalations`)?.focus();
    flush();
  }
  // Sent: the server's view joins the job at once (the next job list load brings the same).
  function sent(item, view) {
    const job = jobs.find((j) => String(j.id) === String(item.work_order_id));
    if (!job) return;
    job.escalations = [...(job.escalations || []).filter((e) => e.id !== view.id), view];
    localStorage.setItem(JOBS, JSON.stringify(jobs));
  }
  // Refused for good (e.g. not this technician's job any more, an unreadable photo): the form gets the draft back.
  function refused(item, err) {
    const b = item.body;
    drafts[item.work_order_id] = { open: true, reason: b.reason, notes: b.notes, minutes: b.telemetry_minutes,
      photo: b.photos[0] || null, photoName: item.draft?.photoName, msg: QF.t("tech.esc.notSent", { error: err.message }) };
  }

  // Live updates re-draw the list: first keep what is being typed (escalation drafts, open disclosures) and
  // where the keyboard focus is, so a technician mid-form loses neither.
  let caret = null;
  const unfixedOpen = new Set(); // jobs whose "could not fix it" disclosure is open: kept across re-draws
  function captureUi() {
    for (const det of document.querySelectorAll("form.done-form[data-wo] details.not-fixed")) {
      const wo = det.closest("form").dataset.wo;
      if (det.open) unfixedOpen.add(wo); else unfixedOpen.delete(wo);
    }
    for (const det of document.querySelectorAll("details.escalate[data-wo]")) {
      const d = drafts[det.dataset.wo] || (drafts[det.dataset.wo] = {}), f = det.querySelector("form");
      d.open = det.open;
      for (const k of ["reason", "notes", "minutes"]) if (f?.[k]) d[k] = f[k].value;
    }
    const a = document.activeElement, li = a?.closest?.("li.job[data-wo]");
    if (!li) return null;
    const sel = a.name ? `[name="${a.name}"]` : a.dataset.act ? `[data-act="${a.dataset.act}"]`
      : a.tagName === "SUMMARY" ? "summary" : a.classList.contains("escalations") ? ".escalations" : null;
    caret = typeof a.selectionStart === "number" ? [a.selectionStart, a.selectionEnd] : null;
    if (!sel) { // a link or other control without a name (Navigate, Map, mail): by its place among the job's controls
      const i = [...li.querySelectorAll(FOCUSABLE)].indexOf(a);
      return i < 0 ? null : { wo: li.dataset.wo, index: i };
    }
    return `li.job[data-wo="${li.dataset.wo}"] ${a.closest("form")?.className ? `form.${a.closest("form").className.split(" ")[0]} ` : ""}${sel}`;
  }
  const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";
  function focusedAfterDraw(focused) {
    if (!focused) return null;
    if (typeof focused === "string") return document.querySelector(focused);
    return document.querySelector(`li.job[data-wo="${focused.wo}"]`)?.querySelectorAll(FOCUSABLE)[focused.index] || null;
  }

  function draw() {
    let n = 0;
    const focused = captureUi();
    drawCollect();
    document.getElementById("jobs").innerHTML = jobs.map((j) => {
      const next = NEXT[j.status] || [];
      return `<li class="job ${esc(j.status)}" data-wo="${j.id}"><h2>${j.status === "completed" ? "" : `<span class="order">${++n}</span>`}
        ${esc(j.device_name)} <span class="chip">${esc(label("common.woStatus", j.status))}</span></h2>
        <dl><dt>${esc(QF.t("tech.job.eta"))}</dt><dd>${hm(j.eta)} <span class="muted">${esc(QF.t("tech.job.due", { at: hm(j.onsite_due) }))}</span></dd>
          <dt>${esc(QF.t("tech.job.customer"))}</dt><dd>${esc(j.customer_name)}</dd>
          <dt>${esc(QF.t("tech.job.contact"))}</dt><dd>${j.customer_email ? `<a href="mailto:${esc(j.customer_email)}">${esc(j.customer_email)}</a>` : "–"}</dd>
          <dt>${esc(QF.t("tech.job.asset"))}</dt><dd>${esc(j.device_id)} (${esc(label("common.equipment", j.equipment_type))})</dd>
          <dt>${esc(QF.t("tech.job.cause"))}</dt><dd>${cause(j)}</dd>
          <dt>${esc(QF.t("tech.job.skills"))}</dt><dd>${esc((j.required_skills || []).map((s) => label("common.skill", s)).join(", ") || "–")}</dd>${partsHtml(j)}${QFVisit.visitHtml(j)}</dl>
        <div id="chart-${j.id}"></div>
        <div class="actions"><a class="btn secondary" href="${esc(j.navigate)}">${esc(QF.t("tech.navigate"))}</a>
          <a class="btn secondary" href="${esc(j.maps_url)}" target="_blank" rel="noopener">${esc(QF.t("tech.map"))}</a>
          ${next.filter((a) => a !== "completed").map((a) => `<button data-act="${a}">${esc(QF.t(LABEL[a]))}</button>`).join("")}
          ${j.status === "assigned" || j.status === "en_route" ? `<button type="button" class="secondary" data-hold="awaiting_parts">${esc(QF.t("tech.step.awaitingParts"))}</button>` : ""}</div>
        ${next.includes("completed") ? QFVisit.completionHtml(j) : ""}
        ${j.status === "completed" && j.actual_fix ? `<p class="ok">${esc(QF.t("tech.job.fixed", { fix: j.actual_fix }))}</p>` : ""}
        ${QFVisit.noticeHtml(j)}${QFVisit.signoffHtml(j)}${QFVisit.returnsHtml(j)}
        ${escalationHtml(j)}</li>`;
    }).join("") || `<li class="job">${esc(QF.t("tech.noJobs"))}</li>`;
    for (const li of document.querySelectorAll("li.job[data-wo]")) {
      const job = jobs.find((j) => String(j.id) === li.dataset.wo);
      li.querySelectorAll("button[data-act]").forEach((b) => b.addEventListener("click", () => act(job, b.dataset.act)));
      li.querySelector("button[data-hold]")?.addEventListener("click", () => awaitParts(job));
      QFVisit.bindCompletion(li, job, act);
      QFVisit.bindSignoff(li, job, act);
      QFVisit.bindReturns(li, job, act);
      const det = li.querySelector("details.escalate"), ef = li.querySelector("form.esc-form");
      if (det && ef) {
        const d = () => drafts[job.id] || (drafts[job.id] = {});
        det.addEventListener("toggle", () => { d().open = det.open; });
        ef.addEventListener("input", (ev) => { if (["reason", "notes", "minutes"].includes(ev.target.name)) d()[ev.target.name] = ev.target.value; });
        ef.photo.addEventListener("change", async () => {
          const file = ef.photo.files[0], state = ef.querySelector(".photo-state");
          if (!file) { d().photo = null; state.textContent = ""; return; }
          let text;
          try { d().photo = await photoDataUrl(file); d().photoName = file.name; text = QF.t("tech.esc.photoAttached", { name: file.name }); }
          catch (e) { d().photo = null; text = QF.t("tech.esc.notImage"); }
          // the list may have been re-drawn while the image was read: write to the current form
          const cur = document.querySelector(`form.esc-form[data-wo="${job.id}"] .photo-state`);
          (cur || state).textContent = text;
        });
        ef.addEventListener("submit", (ev) => { ev.preventDefault(); sendEscalation(job, ef); });
      }
      loadChart(job);
    }
    for (const wo of unfixedOpen) { // captured above, re-applied here: the disclosure stays open across re-draws
      const det = document.querySelector(`form.done-form[data-wo="${wo}"] details.not-fixed`);
      if (det) det.open = true;
    }
    QFVisit.showSignatures(document);
    const el = focusedAfterDraw(focused);
    if (el) { el.focus(); if (caret) try { el.setSelectionRange(...caret); } catch (e) { /* inputs without a selection */ } }
  }

  async function load() {
    if (queue().length) return; // the server does not know our queued steps yet; keep the optimistic view
    const asked = epoch;
    try {
      const fresh = await api("/api/tech/jobs");
      // A step taken while this answer was on its way (a tap just before the signal dropped) is newer than it,
      // even when that step was already sent (the load after the send brings the newer view).
      if (queue().length || asked !== epoch) return;
      jobs = fresh; localStorage.setItem(JOBS, JSON.stringify(jobs));
    }
    catch (e) { if (e instanceof QF.HttpError) throw e; showSync(QF.t("tech.offline")); }
    draw();
  }

  QF.start(document.getElementById("login"), ["technician"], async () => {
    document.getElementById("app").hidden = false;
    draw(); showSync();
    await QFVisit.loadLists();
    await load();
    flush();
    window.addEventListener("online", flush);
    window.addEventListener("offline", () => { showSync(); draw(); });
    setInterval(flush, 15000);
    QF.live(load);
    if ("serviceWorker" in navigator) navigator.serviceWorker.register("/tech/sw.js", { scope: "/tech" }).catch(() => {});
  });
})();
