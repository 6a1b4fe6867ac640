// The route board's work-order lifecycle: cancel with a reason, reschedule to the customer's window, hold /
// awaiting parts and resume (POST /api/work-orders/{id}/{cancel|reschedule|hold|resume}, api/routes/lifecycle.py),
// and the held job's badge with its paused (or running) SLA clock. board.js calls risk(q), badges(q), actions(q)
// and bind().
// Every visible string of this feature is in TEXT below, as i18n catalogue keys (board.lifecycle.*).
"use strict";
const QFLifecycle = (() => {
  const { api, esc, now, countdown } = QF;
  // Every word of this feature, by catalogue key (i18n/catalogues/*.json, board.lifecycle.*).
  const t = QF.t;
  const TEXT = {
    cancel: () => t("board.lifecycle.cancel"), reschedule: () => t("board.lifecycle.reschedule"),
    hold: () => t("board.lifecycle.hold"), resume: () => t("board.lifecycle.resume"),
    sr: (id) => t("board.lifecycle.srWorkOrder", { id }),
    cancelTitle: (id) => t("board.lifecycle.cancelTitle", { id }),
    rescheduleTitle: (id) => t("board.lifecycle.rescheduleTitle", { id }),
    holdTitle: (id) => t("board.lifecycle.holdTitle", { id }),
    reason: () => t("board.lifecycle.reason"), note: () => t("board.lifecycle.note"),
    noteHint: () => t("board.lifecycle.noteHint"),
    closes: () => t("board.lifecycle.closes"), requeues: () => t("board.lifecycle.requeues"),
    earliest: () => t("board.lifecycle.earliest"), latest: () => t("board.lifecycle.latest"),
    windowHint: () => t("board.lifecycle.windowHint"), kind: () => t("board.lifecycle.kind"),
    onHold: () => t("board.lifecycle.onHold"), awaitingParts: () => t("board.lifecycle.awaitingParts"),
    confirmCancel: () => t("board.lifecycle.confirmCancel"), confirmReschedule: () => t("board.lifecycle.confirmReschedule"),
    confirmHold: () => t("board.lifecycle.confirmHold"), close: () => t("board.lifecycle.close"),
    badge: (kind) => t("board.lifecycle.badge", { kind: kind || "on_hold" }),
    pausedLeft: (min) => t("board.lifecycle.pausedLeft", { min }), pausedLate: (min) => t("board.lifecycle.pausedLate", { min }),
    running: () => t("board.lifecycle.running"),
    onsiteInWindow: () => t("board.lifecycle.onsiteInWindow"),
    window: (start, end) => t("board.lifecycle.window", { start, end }),
    done: {
      cancel: (id, r) => (r.incident_closed ? t("board.lifecycle.doneCancelClosed", { id })
        : r.requeued_work_order_id ? t("board.lifecycle.doneCancelRequeued", { id, requeued: r.requeued_work_order_id })
          : t("board.lifecycle.doneCancel", { id })),
      reschedule: (id, r) => (r.sla_paused ? t("board.lifecycle.doneReschedulePaused", { id }) : t("board.lifecycle.doneReschedule", { id })),
      hold: (id, r) => (r.sla_paused ? t("board.lifecycle.doneHoldPaused", { id, kind: r.hold_kind })
        : t("board.lifecycle.doneHoldRunning", { id, kind: r.hold_kind })),
      resume: (id) => t("board.lifecycle.doneResume", { id }),
      unchanged: (id) => t("board.lifecycle.unchanged", { id }),
    },
    notDone: (message) => t("board.lifecycle.notDone", { message }),
    // work_order_cancel_reasons (migration 0350) by code; a reason added later shows its label from the database
    reasons: {
      customer_withdrew: () => t("board.lifecycle.reasonCustomerWithdrew"), duplicate: () => t("board.lifecycle.reasonDuplicate"),
      fixed_without_visit: () => t("board.lifecycle.reasonFixedWithoutVisit"), wrong_details: () => t("board.lifecycle.reasonWrongDetails"),
      technician_unavailable: () => t("board.lifecycle.reasonTechnicianUnavailable"), other: () => t("board.lifecycle.reasonOther"),
    },
  };
  let reasons = null;

  // Local wall time in a datetime-local input and back: the browser's zone is the viewer's.
  const localValue = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3); return d.toISOString().slice(0, 16); };

  // The held job's clock: paused = frozen at what was left when the hold started; running = the live countdown.
  function frozenLeft(q) {
    const min = Math.round((Date.parse(q.onsite_target || q.onsite_due) - Date.parse(q.held_since)) / 60e3);
    return min >= 0 ? TEXT.pausedLeft(min) : TEXT.pausedLate(-min);
  }

  function badges(q) {
    const out = [];
    if (q.status === "on_hold") {
      out.push(`<span class="chip hold" data-hold="${esc(q.hold_kind || "")}">${esc(TEXT.badge(q.hold_kind))}</span>`);
      out.push(q.hold_pauses_sla
        ? `<span class="chip paused" data-sla="paused">⏸ ${esc(frozenLeft(q))}</span>`
        : `<span class="chip running" data-sla="running">${esc(TEXT.running())} <span class="clock" data-due="${esc(q.onsite_target || q.onsite_due)}"></span></span>`);
      if (q.hold_note) out.push(`<span class="muted">${esc(q.hold_note)}</span>`);
    }
    if (q.appointment_start) {
      out.push(`<span class="chip window" data-window>${esc(TEXT.window(q.appointment_start, q.appointment_end))}</span>`);
    }
    return out.join(" ");
  }

  // The queue's headline clock for a job waiting for the customer's window: the customer has their time (no
  // response clock), the job's own on-site clock runs to the window's end. null: board.js decides as before.
  function risk(q) {
    if (!q.appointment_start || q.assigned_at || q.arrived_at) return null;
    const due = q.onsite_target || q.onsite_due;
    return { label: TEXT.onsiteInWindow(), cls: countdown(due).cls, due, window: true };
  }

  function actions(q) {
    if (q.arrived_at) return "";
    const b = (act, label) => `<button type="button" class="secondary" data-lc="${act}" data-wo="${q.id}" data-key="${act}-${q.id}">${esc(label)}<span class="sr-only"> ${esc(TEXT.sr(q.id))}</span></button>`;
    return `<div class="row lifecycle">${q.status === "on_hold" ? b("resume", TEXT.resume()) : b("hold", TEXT.hold())}${b("reschedule", TEXT.reschedule())}${b("cancel", TEXT.cancel())}</div>`;
  }

  async function cancelReasons() {
    if (!reasons) reasons = await api("/api/work-orders/cancel-reasons");
    return reasons;
  }

  async function formFor(act, q) {
    if (act === "cancel") {
      const opts = (await cancelReasons()).map((r) => `<option value="${esc(r.code)}">${esc(TEXT.reasons[r.code]?.() || r.label)} (${esc(r.closes_incident ? TEXT.closes() : TEXT.requeues())})</option>`).join("");
      return { title: TEXT.cancelTitle(q.id), submit: TEXT.confirmCancel(), html: `<label><span>${esc(TEXT.reason())}</span><select name="reason" required>${opts}</select></label>
        <label><span>${esc(TEXT.note())} <span class="muted">(${esc(TEXT.noteHint())})</span></span><textarea name="note" maxlength="500" rows="2"></textarea></label>`,
        body: (f) => ({ reason: f.get("reason"), note: f.get("note") || null }) };
    }
    if (act === "reschedule") {
      const start = q.appointment_start ? Date.parse(q.appointment_start) : Math.ceil((now() + 3600e3) / 1800e3) * 1800e3;
      const end = q.appointment_end ? Date.parse(q.appointment_end) : start + 3 * 3600e3;
      return { title: TEXT.rescheduleTitle(q.id), submit: TEXT.confirmReschedule(), html: `<p class="muted">${esc(TEXT.windowHint())}</p>
        <label><span>${esc(TEXT.earliest())}</span><input type="datetime-local" name="earliest" required value="${localValue(start)}"></label>
        <label><span>${esc(TEXT.latest())}</span><input type="datetime-local" name="latest" required value="${localValue(end)}"></label>
        <label><span>${esc(TEXT.note())}</span><textarea name="note" maxlength="500" rows="2"></textarea></label>`,
        body: (f) => ({ earliest_start: new Date(f.get("earliest")).toISOString(), latest_start: new Date(f.get("latest")).toISOString(), note: f.get("note") || null }) };
    }
    return { title: TEXT.holdTitle(q.id), submit: TEXT.confirmHold(), html: `<fieldset><legend>${esc(TEXT.kind())}</legend>
        <label class="radio"><input type="radio" name="kind" value="awaiting_parts" checked> ${esc(TEXT.awaitingParts())}</label>
        <label class="radio"><input type="radio" name="kind" value="on_hold"> ${esc(TEXT.onHold())}</label></fieldset>
        <label><span>${esc(TEXT.note())}</span><textarea name="note" maxlength="500" rows="2"></textarea></label>`,
      body: (f) => ({ kind: f.get("kind"), note: f.get("note") || null }) };
  }

  // One dialog for every step: the form, its own error line, submit -> POST -> say -> redraw.
  async function open(act, q, say, refresh) {
    const dlg = document.getElementById("lc-dialog");
    const spec = await formFor(act, q);
    dlg.innerHTML = `<form method="dialog" class="lc-form" data-act="${act}"><h3>${esc(spec.title)}</h3>${spec.html}
      <p class="msg" role="alert" data-lc-error></p>
      <div class="row"><button type="submit" data-lc-submit>${esc(spec.submit)}</button>
      <button type="button" class="secondary" data-lc-close>${esc(TEXT.close())}</button></div></form>`;
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

  return { badges, actions, bind, risk, TEXT };
})();
