// The board's asset panel: the asset behind a queue entry (or typed in), with its contract, team and remaining
// useful life (rul.js). Kept apart from board.js: it only listens for clicks on [data-asset] buttons.
"use strict";
(() => {
  const { api, esc } = QF;
  const t = (k, p) => I18N.t(k, p);
  const panel = document.getElementById("asset-panel"), body = document.getElementById("asset-body");
  async function show(id) {
    panel.hidden = false;
    let a;
    try { a = await api(`/api/assets/${encodeURIComponent(id)}`); } catch (e) { body.innerHTML = `<p class="msg">${esc(t("board.asset.notFound"))}</p>`; return; }
    const k = a.contract;
    body.innerHTML = `<h3 id="asset-name">${esc(a.name)} <span class="chip ${a.online ? "ok" : "late"}">${esc(t(a.online ? "board.asset.online" : "board.asset.offline"))}</span></h3>
      <div class="muted">${esc(a.equipment_type)} · ${esc(a.id)} · ${esc(a.customer_name || "")} · ${esc(a.region)}</div>
      <div>${esc(t("board.asset.contract"))}: ${k ? `<b>${esc(k.name)}</b> · ${esc(k.sla_tier)} · ${esc(k.coverage)}` : esc(t("board.asset.noContract"))}</div>
      ${a.team?.length ? `<div>${esc(t("board.asset.team"))}: ${a.team.map((m) => esc(m.name)).join(", ")}</div>` : ""}
      ${QFRul.block(a.rul, a.open_incidents)}
      <button type="button" class="secondary" id="asset-close">${esc(t("board.asset.close"))}</button>`;
    document.getElementById("asset-close").addEventListener("click", () => { panel.hidden = true; });
    document.getElementById("asset-h").focus();
  }
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest?.("[data-asset]");
    if (b) { ev.preventDefault(); show(b.dataset.asset); }
  });
  document.getElementById("asset-open").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = new FormData(ev.target).get("device_id");
    if (id) show(id);
  });
})();
