// Remaining useful life, as the board's asset panel and the customer portal show it (issue #16).
// Every visible string of the estimate is here, in one place, for the translation catalogue (i18n).
"use strict";
const QFRul = (() => {
  const TEXT = {
    title: "Remaining useful life",
    none: "No estimate yet.",
    learning: "Learning this asset's normal range: no estimate yet.",
    healthy: "No failure in sight.",
    at_limit: "At its limit now: a visit is due.",
    degrading: (rul, range) => `About <b>${rul}</b> until a likely failure${range}.`,
    range: (lo, hi) => hi ? ` (between ${lo} and ${hi})` : ` (not before ${lo})`,
    mode: (m) => `Likely: ${m}`,
    method: { learned: "learned from this fleet's own repaired failures", trend: "trend of a wear signal towards its limit" },
    by: (how) => `Estimated by ${how}`,
    at: (t) => `as of ${t}`,
  };
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  function span(s) {
    if (s == null) return null;
    const h = s / 3600;
    return h < 1 ? `${Math.max(1, Math.round(s / 60))} min` : h < 48 ? `${h.toFixed(h < 10 ? 1 : 0)} h` : `${(h / 24).toFixed(1)} days`;
  }
  // One block of HTML for an estimate (the API's Rul object, or null).
  function block(r) {
    if (!r) return `<div class="rul" data-rul-status="none"><b>${TEXT.title}</b>: <span class="muted">${TEXT.none}</span></div>`;
    let body;
    if (r.status === "degrading") {
      const range = r.rul_low_s != null ? TEXT.range(span(r.rul_low_s), span(r.rul_high_s)) : "";
      body = TEXT.degrading(span(r.rul_s), range) + (r.fault_mode ? ` ${esc(TEXT.mode(r.fault_mode.replace(/_/g, " ")))}.` : "");
    } else body = esc(TEXT[r.status] || r.status);
    const how = TEXT.method[r.method] || r.method;
    const at = r.estimated_at ? new Date(r.estimated_at).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "";
    return `<div class="rul" data-rul-status="${esc(r.status)}" data-rul-method="${esc(r.method)}"><b>${TEXT.title}</b>: ${body}
      <div class="muted">${esc(TEXT.by(how))}${at ? ` · ${esc(TEXT.at(at))}` : ""}</div></div>`;
  }
  return { block, span, TEXT };
})();
