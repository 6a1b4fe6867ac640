// Portal: a customer reports a problem (equipment, text, optional photo). It joins the same incident queue as
// detected faults, with the contract's deadlines (POST /api/portal/problems).
"use strict";
window.QFReport = (() => {
  let bound = false;
  function bind() {
    const form = document.getElementById("report-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const msg = document.getElementById("report-msg");
      form.querySelectorAll("[id^=report-][id$=-err]").forEach((e) => { e.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
      const data = new FormData(form);
      if (!data.get("photo")?.size) data.delete("photo");
      const r = await fetch("/api/portal/problems", { method: "POST", body: data,
        headers: { Authorization: `Bearer ${localStorage.getItem("qf-token")}` } });
      const body = await r.json().catch(() => ({}));
      msg.classList.toggle("ok", r.ok);
      if (r.ok) {
        msg.textContent = QF.t("portal.report.thanks", { id: body.incident_id, at: QF.hm(body.onsite_due) });
        form.reset();
        return;
      }
      for (const d of Array.isArray(body.detail) ? body.detail : []) {
        const el = form.querySelector(`[name="${d.field}"]`);
        if (el) { el.setAttribute("aria-invalid", "true"); document.getElementById(`report-${d.field}-err`).textContent = I18N.message(d.i18n, d.reason); }
      }
      msg.textContent = typeof body.detail === "string" ? body.detail : QF.t("portal.report.fix");
    });
  }
  function assets(list) {
    const select = document.querySelector("#report-form select[name=asset]");
    const chosen = select.value;
    select.innerHTML = list.map((a) => `<option value="${QF.esc(a.id)}">${QF.esc(a.name)} (${QF.esc(a.id)})</option>`).join("");
    if (chosen) select.value = chosen;
    if (!bound) { bound = true; bind(); }
  }
  return { assets };
})();
