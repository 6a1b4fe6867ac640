// Spares orders for dispatchers: replenishment advice -> proposed purchase orders and transfers -> approve or
// reject -> receive into the ledger. Every action is one POST on /api/spares/orders/...; the table is re-read after.
"use strict";
(() => {
  const t = (key, args) => QF.t(key, args);
  const T = {
    kind: (k) => t(`spares.kind.${k}`),
    status: (st) => t(`spares.status.${st}`),
    proposed: (n) => n ? t("spares.msg.proposed", { n }) : t("spares.msg.nothingNew"),
    none: () => t("spares.msg.none"), count: (n) => t("spares.msg.count", { n }),
    failed: (what, e) => t("spares.msg.failed", { what: t(`spares.action.${what}`), error: e.message }),
  };
  const msg = document.getElementById("msg");
  const status = document.getElementById("status");
  const why = (b) => b.source === "supplier" || b.source === "warehouse"
    ? t(`spares.why.${b.source}`, { position: b.position, reorder: b.reorder_point, base: b.base_stock })
    : b.source ? t(`spares.why.${b.source === "depot excess" ? "excess" : "van"}`) : "";
  function row(o) {
    const actions = o.status === "proposed"
      ? `<button data-act="approve" data-id="${o.id}">${t("spares.action.approve")}</button>`
        + `<button data-act="reject" data-id="${o.id}">${t("spares.action.reject")}</button>`
      : o.status === "approved" ? `<button data-act="receive" data-id="${o.id}">${t("spares.action.receive")}</button>` : "";
    return `<tr data-order="${o.id}"><td>${o.id}</td><td>${QF.esc(T.kind(o.kind))}</td>`
      + `<td>${QF.esc(o.sku)} <span class="muted">${QF.esc(o.description)}</span></td><td class="num">${o.qty}</td>`
      + `<td>${QF.esc(o.from_name || t("spares.supplier"))}</td><td>${QF.esc(o.to_name)}</td>`
      + `<td class="num">${I18N.number(Number(o.value), 2)}</td><td>${QF.esc(why(o.basis || {}))}</td>`
      + `<td data-status>${QF.esc(T.status(o.status))}${o.received_qty ? ` (${o.received_qty})` : ""}</td><td>${actions}</td></tr>`;
  }
  async function load() {
    try {
      const rows = await QF.api(`/api/spares/orders${status.value ? `?status=${status.value}` : ""}`);
      document.querySelector("#orders tbody").innerHTML = rows.map(row).join("");
      return rows.length;
    } catch (e) { msg.textContent = T.failed("load", e); return 0; }
  }
  document.getElementById("propose").addEventListener("click", async () => {
    try {
      const out = await QF.api("/api/spares/orders/propose", { method: "POST" });
      status.value = "proposed";
      await load();
      msg.textContent = T.proposed(out.created.length);
    } catch (e) { msg.textContent = T.failed("propose", e); }
  });
  document.querySelector("#orders tbody").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    b.disabled = true;
    try {
      const o = await QF.api(`/api/spares/orders/${b.dataset.id}/${b.dataset.act}`, { method: "POST" });
      msg.textContent = t("spares.msg.done", { id: o.id, status: T.status(o.status) });
      await load();
    } catch (e) { msg.textContent = T.failed(b.dataset.act, e); b.disabled = false; }
  });
  status.addEventListener("change", async () => { const n = await load(); msg.textContent = n ? T.count(n) : T.none(); });
  QF.start(document.getElementById("login"), ["admin", "dispatcher"], () => {
    document.getElementById("app").hidden = false;
    load();
  });
})();
