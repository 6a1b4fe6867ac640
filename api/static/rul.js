// Remaining useful life, as the board's asset panel and the customer portal show it (issue #16).
// Words come from the catalogues (common.rul.*, common.duration.*); numbers and times in the viewer's locale.
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
  // One block of HTML for an estimate (the API's Rul object, or null).
  function block(r) {
    if (!r) return `<div class="rul" data-rul-status="none"><b>${esc(t("common.rul.title"))}</b>: <span class="muted">${esc(t("common.rul.none"))}</span></div>`;
    let body;
    if (r.status === "degrading") {
      const range = r.rul_low_s == null ? "" : ` (${esc(r.rul_high_s != null
        ? t("common.rul.range", { low: span(r.rul_low_s), high: span(r.rul_high_s) })
        : t("common.rul.rangeOpen", { low: span(r.rul_low_s) }))})`;
      body = t("common.rul.degrading", { rul: `<b>${esc(span(r.rul_s))}</b>` }) + range + "."
        + (r.fault_mode ? ` ${esc(t("common.rul.likely", { mode: mode(r.fault_mode) }))}.` : "");
    } else body = esc(STATUS[r.status] ? t(STATUS[r.status]) : r.status);
    const how = I18N.has(`common.rul.method.${r.method}`) ? t(`common.rul.method.${r.method}`) : r.method;
    const at = r.estimated_at ? ` · ${esc(t("common.rul.asOf", { at: r.estimated_at }))}` : "";
    return `<div class="rul" data-rul-status="${esc(r.status)}" data-rul-method="${esc(r.method)}"><b>${esc(t("common.rul.title"))}</b>: ${body}
      <div class="muted">${esc(t("common.rul.by", { method: how }))}${at}</div></div>`;
  }
  return { block, span };
})();
