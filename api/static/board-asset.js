// The board's asset panel: the asset behind a queue entry (or typed in), with its contract, team and remaining
// useful life (rul.js). Kept apart from board.js: it only listens for clicks on [data-asset] buttons.
"use strict";
(() => {
  const { api, esc } = QF;
  const TEXT = { title: (n) => n, notFound: "Asset not found.", contract: "Contract", none: "No service contract: time and materials",
    team: "Team", online: "online", offline: "offline", close: "Close" };
  const panel = document.getElementById("asset-panel"), body = document.getElementById("asset-body");
  async function show(id) {
    panel.hidden = false;
    let a;
    try { a = await api(`/api/assets/${encodeURIComponent(id)}`); } catch (e) { body.innerHTML = `<p class="msg">${esc(TEXT.notFound)}</p>`; return; }
    const k = a.contract;
    body.innerHTML = `<h3 id="asset-name">${esc(TEXT.title(a.name))} <span class="chip ${a.online ? "ok" : "late"}">${a.online ? TEXT.online : TEXT.offline}</span></h3>
      <div class="muted">${esc(a.equipment_type)} · ${esc(a.id)} · ${esc(a.customer_name || "")} · ${esc(a.region)}</div>
      <div>${esc(TEXT.contract)}: ${k ? `<b>${esc(k.name)}</b> · ${esc(k.sla_tier)} · ${esc(k.coverage)}` : esc(TEXT.none)}</div>
      ${a.team?.length ? `<div>${esc(TEXT.team)}: ${a.team.map((t) => esc(t.name)).join(", ")}</div>` : ""}
      ${QFRul.block(a.rul)}
      <button type="button" class="secondary" id="asset-close">${esc(TEXT.close)}</button>`;
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
