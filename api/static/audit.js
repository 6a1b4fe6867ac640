// The audit log for admins: filters map one to one onto GET /api/audit's query parameters.
"use strict";
(() => {
  const form = document.getElementById("filters");
  const msg = document.getElementById("msg");
  async function load() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      if (!v) continue;
      params.set(k, (k === "since" || k === "until") ? new Date(v + "Z").toISOString() : v);
    }
    try {
      const rows = await QF.api(`/api/audit?${params}`);
      document.querySelector("#rows tbody").innerHTML = rows.map((r) => `<tr><td>${QF.esc(I18N.datetime(r.at))}</td>`
        + `<td>${QF.esc(r.actor)}${r.actor_role ? ` <span class="muted">(${QF.esc(QF.label("common.role", r.actor_role))})</span>` : ""}</td>`
        + `<td>${QF.esc(r.action)}</td><td>${QF.esc([r.target_type, r.target_id].filter(Boolean).join(" "))}</td>`
        + `<td><code>${QF.esc(JSON.stringify(r.details))}</code></td></tr>`).join("");
      msg.textContent = rows.length ? QF.t("audit.count", { count: rows.length }) : QF.t("audit.none");
    } catch (e) { msg.textContent = QF.t("audit.loadFailed", { error: e.message }); }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  QF.start(document.getElementById("login"), ["admin"], () => {
    document.getElementById("app").hidden = false;
    load();
  });
})();
