// Remaining useful life, as the board's asset panel and the customer portal show it (issue #16).
// Words come from the catalogues (common.rul.*, common.duration.*); numbers and times in the viewer's locale.
// The estimate and the detectors are separate: a wear trend can see "no failure in sight" while a detector has
// an incident open on the same asset. With open incidents the block says so first, and says what the estimate
// it shows is (its method, signal and time) and whether it is about the same fault.
"use strict";
const QFRul = (() => {
  const t = (k, p) => I18N.t(k, p);
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const STATUS = { learning: "common.rul.learning", healthy: "common.rul.healthy", at_limit: "common.rul.atLimit" };
  function span(s) {
    if (s == null) return null;
    const h = s / 3600;
    if (h < 1) return t("common.duration.minutes", { n: I18N.number(Math.max(1, Math.round(s / 60)), 0) });
    if (h < 48) return t("common.duration.hours", { n: I18N.number(h, h < 10 ? 1 : 0) });
    return t("common.duration.days", { n: I18N.number(h / 24, 1) });
  }
  function mode(m) { const k = `fault.${m}`; return I18N.has(k) ? t(k) : m.replace(/_/g, " "); }
  // The open incidents as lines (newest first, at most two: the portal card lists them all anyway).
  function openLines(open) {
    return open.slice(0, 2).map((i) => `<div class="rul-open" data-rul-open="${esc(i.fault_mode)}">${esc(t("common.rul.open", { source: i.source === "telemetry" ? "telemetry" : "other", mode: mode(i.fault_mode), at: i.opened_at }))}</div>`).join("");
  }
  // How the estimate relates to the open incidents: it sees nothing coming (it does not cover them), it is
  // about the same fault, or about another one.
  function relation(r, open) {
    if (!open.length) return "";
    if (r.status === "healthy") return `<span data-rul-relation="not-covered">${esc(t("common.rul.healthyButOpen"))}</span>`;
    if (r.status !== "degrading" || !r.fault_mode) return "";
    return open.some((i) => i.fault_mode === r.fault_mode)
      ? ` <span data-rul-relation="same">${esc(t("common.rul.sameMode"))}</span>`
      : ` <span data-rul-relation="other">${esc(t("common.rul.otherMode", { mode: mode(r.fault_mode) }))}</span>`;
  }
  // One block of HTML for an estimate (the API's Rul object, or null) and the asset's open incidents.
  function block(r, open = []) {
    open = open || [];
    const opened = openLines(open);
    if (!r) return `<div class="rul" data-rul-status="none"><b>${esc(t("common.rul.title"))}</b>: ${opened}<span class="muted">${esc(t("common.rul.none"))}</span></div>`;
    let body;
    if (r.status === "degrading") {
      const range = r.rul_low_s == null ? "" : ` (${esc(r.rul_high_s != null
        ? t("common.rul.range", { low: span(r.rul_low_s), high: span(r.rul_high_s) })
        : t("common.rul.rangeOpen", { low: span(r.rul_low_s) }))})`;
      body = t("common.rul.degrading", { rul: `<b>${esc(span(r.rul_s))}</b>` }) + range + "."
        + (r.fault_mode ? ` ${esc(t("common.rul.likely", { mode: mode(r.fault_mode) }))}.` : "");
    } else body = esc(STATUS[r.status] ? t(STATUS[r.status]) : r.status);
    // "No failure in sight" is never shown beside an open incident: the estimate says instead what it covers.
    body = r.status === "healthy" && open.length ? relation(r, open) : body + relation(r, open);
    const how = I18N.has(`common.rul.method.${r.method}`) ? t(`common.rul.method.${r.method}`) : r.method;
    const from = r.signal ? ` · ${esc(t("common.rul.from", { signal: r.signal }))}` : "";
    const at = r.estimated_at ? ` · ${esc(t("common.rul.asOf", { at: r.estimated_at }))}` : "";
    return `<div class="rul" data-rul-status="${esc(r.status)}" data-rul-method="${esc(r.method)}"><b>${esc(t("common.rul.title"))}</b>: ${opened}${body}
      <div class="muted">${esc(t("common.rul.by", { method: how }))}${from}${at}</div></div>`;
  }
  return { block, span };
})();
