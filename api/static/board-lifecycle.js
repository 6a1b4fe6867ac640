// The route board's work-order lifecycle: cancel with a reason, reschedule to the customer's window, hold /
// awaiting parts and resume (POST /api/work-orders/{id}/{cancel|reschedule|hold|resume}, api/routes/lifecycle.py),
// and the held job's badge with its paused (or running) SLA clock. board.js calls badges(q), actions(q) and bind().
// Every visible string of this feature is in TEXT below, ready to move into the i18n catalogue.
"use strict";
const QFLifecycle = (() => {
  const { api, esc, hm, countdown, now } = QF;
  const TEXT = {
    cancel: "Cancel…", reschedule: "Reschedule…", hold: "Hold…", resume: "Resume",
    cancelTitle: (id) => `Cancel work order #${id}`, rescheduleTitle: (id) => `Reschedule work order #${id} to the customer's window`,
    holdTitle: (id) => `Put work order #${id} on hold`,
    reason: "Reason", note: "Note", noteHint: "optional; required for “Other”",
    closes: "closes the incident", requeues: "incident stays open, back in the queue",
    earliest: "Earliest start (your time)", latest: "Latest start (your time)",
    windowHint: "The window the customer chose: the technician starts the work inside it.",
    kind: "Why", onHold: "On hold (customer asked to wait, no access)", awaitingParts: "Awaiting parts",
    confirmCancel: "Cancel work order", confirmReschedule: "Reschedule", confirmHold: "Put on hold", close: "Close",
    badge: { on_hold: "on hold", awaiting_parts: "awaiting parts" },
    paused: "SLA clock paused", running: "SLA clock running (contract)", left: "left", late: "late",
    window: (a, b) => `customer window ${a}–${b}`,
    done: {
      cancel: (id, r) => `Work order #${id} cancelled${r.incident_closed ? "; incident closed" : r.requeued_work_order_id ? `; incident back in the queue as #${r.requeued_work_order_id}` : ""}.`,
      reschedule: (id, r) => `Work order #${id} rescheduled to the customer's window${r.sla_paused ? "; SLA clock paused until it opens" : ""}.`,
      hold: (id, r) => `Work order #${id} ${TEXT.badge[r.hold_kind] || "on hold"}; SLA clock ${r.sla_paused ? "paused" : "keeps running (contract)"}.`,
      resume: (id) => `Work order #${id} back in the queue.`,
      unchanged: (id) => `Work order #${id}: already done, nothing changed.`,
    },
    notDone: (m) => `Not done: ${m}`,
  };
  let reasons = null;

  // Local wall time in a datetime-local input and back: the browser's zone is the viewer's.
  const localValue = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3); return d.toISOString().slice(0, 16); };
  const hhmm = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const day = (iso) => new Date(iso).toLocaleDateString([], { month: "short", day: "numeric" });

  // The held job's clock: paused = frozen at what was left when the hold started; running = the live countdown.
  function frozenLeft(q) {
    const due = q.onsite_target || q.onsite_due;
    const s = Math.round((Date.parse(due) - Date.parse(q.held_since)) / 1000), a = Math.abs(s);
    const txt = `${Math.floor(a / 3600) ? Math.floor(a / 3600) + "h " : ""}${String(Math.floor(a / 60) % 60).padStart(2, "0")}`;
    return s >= 0 ? `${txt} min ${TEXT.left}` : `${txt} min ${TEXT.late}`;
  }

  function badges(q) {
    const out = [];
    if (q.status === "on_hold") {
      out.push(`<span class="chip hold" data-hold="${esc(q.hold_kind || "")}">${esc(TEXT.badge[q.hold_kind] || TEXT.badge.on_hold)}</span>`);
      out.push(q.hold_pauses_sla
        ? `<span class="chip paused" data-sla="paused" title="${esc(TEXT.paused)}">⏸ ${esc(TEXT.paused)} · ${esc(frozenLeft(q))}</span>`
        : `<span class="chip running" data-sla="running">${esc(TEXT.running)} <span class="clock" data-due="${esc(q.onsite_target || q.onsite_due)}"></span></span>`);
      if (q.hold_note) out.push(`<span class="muted">${esc(q.hold_note)}</span>`);
    }
    if (q.appointment_start) {
      out.push(`<span class="chip window" data-window>${esc(TEXT.window(`${day(q.appointment_start)} ${hhmm(q.appointment_start)}`, hhmm(q.appointment_end)))}</span>`);
    }
    return out.join(" ");
  }

  function actions(q) {
    if (q.arrived_at) return "";
    const b = (act, label) => `<button type="button" class="secondary" data-lc="${act}" data-wo="${q.id}" data-key="${act}-${q.id}">${esc(label)}<span class="sr-only"> work order ${q.id}</span></button>`;
    return `<div class="row lifecycle">${q.status === "on_hold" ? b("resume", TEXT.resume) : b("hold", TEXT.hold)}${b("reschedule", TEXT.reschedule)}${b("cancel", TEXT.cancel)}</div>`;
  }

  async function cancelReasons() {
    if (!reasons) reasons = await api("/api/work-orders/cancel-reasons");
    return reasons;
  }

  async function formFor(act, q) {
    if (act === "cancel") {
      const opts = (await cancelReasons()).map((r) => `<option value="${esc(r.code)}">${esc(r.label)} (${esc(r.closes_incident ? TEXT.closes : TEXT.requeues)})</option>`).join("");
      return { title: TEXT.cancelTitle(q.id), submit: TEXT.confirmCancel, html: `<label><span>${esc(TEXT.reason)}</span><select name="reason" required>${opts}</select></label>
        <label><span>${esc(TEXT.note)} <span class="muted">(${esc(TEXT.noteHint)})</span></span><textarea name="note" maxlength="500" rows="2"></textarea></label>`,
        body: (f) => ({ reason: f.get("reason"), note: f.get("note") || null }) };
    }
    if (act === "reschedule") {
      const start = q.appointment_start ? Date.parse(q.appointment_start) : Math.ceil((now() + 3600e3) / 1800e3) * 1800e3;
      const end = q.appointment_end ? Date.parse(q.appointment_end) : start + 3 * 3600e3;
      return { title: TEXT.rescheduleTitle(q.id), submit: TEXT.confirmReschedule, html: `<p class="muted">${esc(TEXT.windowHint)}</p>
        <label><span>${esc(TEXT.earliest)}</span><input type="datetime-local" name="earliest" required value="${localValue(start)}"></label>
        <label><span>${esc(TEXT.latest)}</span><input type="datetime-local" name="latest" required value="${localValue(end)}"></label>
        <label><span>${esc(TEXT.note)}</span><textarea name="note" maxlength="500" rows="2"></textarea></label>`,
        body: (f) => ({ earliest_start: new Date(f.get("earliest")).toISOString(), latest_start: new Date(f.get("latest")).toISOString(), note: f.get("note") || null }) };
    }
    return { title: TEXT.holdTitle(q.id), submit: TEXT.confirmHold, html: `<fieldset><legend>${esc(TEXT.kind)}</legend>
        <label class="radio"><input type="radio" name="kind" value="awaiting_parts" checked> ${esc(TEXT.awaitingParts)}</label>
        <label class="radio"><input type="radio" name="kind" value="on_hold"> ${esc(TEXT.onHold)}</label></fieldset>
        <label><span>${esc(TEXT.note)}</span><textarea name="note" maxlength="500" rows="2"></textarea></label>`,
      body: (f) => ({ kind: f.get("kind"), note: f.get("note") || null }) };
  }

  // One dialog for every step: the form, its own error line, submit -> POST -> say -> redraw.
  async function open(act, q, say, refresh) {
    const dlg = document.getElementById("lc-dialog");
    const spec = await formFor(act, q);
    dlg.innerHTML = `<form method="dialog" class="lc-form" data-act="${act}"><h3>${esc(spec.title)}</h3>${spec.html}
      <p class="msg" role="alert" data-lc-error></p>
      <div class="row"><button type="submit" data-lc-submit>${esc(spec.submit)}</button>
      <button type="button" class="secondary" data-lc-close>${esc(TEXT.close)}</button></div></form>`;
    const form = dlg.querySelector("form");
    dlg.querySelector("[data-lc-close]").addEventListener("click", () => dlg.close());
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const btn = form.querySelector("[data-lc-submit]");
      btn.disabled = true;
      try {
        const r = await api(`/api/work-orders/${q.id}/${act}`, { method: "POST", body: spec.body(new FormData(form)) });
        dlg.close();
        say(r.changed ? TEXT.done[act](q.id, r) : TEXT.done.unchanged(q.id));
        await refresh();
        document.getElementById("queue-h").focus();
      } catch (e) {
        form.querySelector("[data-lc-error]").textContent = TEXT.notDone(e.message);
        btn.disabled = false;
      }
    });
    dlg.showModal();
    form.querySelector("select, input, textarea")?.focus();
  }

  async function resume(btn, q, say, refresh) {
    btn.disabled = true;
    try {
      const r = await api(`/api/work-orders/${q.id}/resume`, { method: "POST" });
      say(r.changed ? TEXT.done.resume(q.id) : TEXT.done.unchanged(q.id));
      await refresh();
      document.getElementById("queue-h").focus();
    } catch (e) { say(TEXT.notDone(e.message), false); btn.disabled = false; }
  }

  // After each queue redraw: wire the buttons (queue: the board's rows by id).
  function bind(queue, say, refresh) {
    const byId = new Map(queue.map((q) => [String(q.id), q]));
    for (const b of document.querySelectorAll("#queue [data-lc]")) {
      const q = byId.get(b.dataset.wo);
      if (!q) continue;
      b.addEventListener("click", () => (b.dataset.lc === "resume" ? resume(b, q, say, refresh) : open(b.dataset.lc, q, say, refresh)));
    }
  }

  return { badges, actions, bind, TEXT };
})();
