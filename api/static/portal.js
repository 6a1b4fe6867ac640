// Customer portal: equipment health, open incidents with the technician's ETA, timeline, and the NPS question.
"use strict";
(() => {
  const { api, esc, hm } = QF;
  const open = new Set(); // assets whose timeline is expanded (kept across live refreshes)
  const when = (v) => v ? new Date(v).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–";

  function contractLine(k) {
    if (!k) return '<div class="muted contract">No service contract: time and materials</div>';
    const warranty = k.warranty_until ? ` · warranty ${k.under_warranty ? "until" : "ended"} ${esc(k.warranty_until)}` : "";
    return `<div class="contract">Contract <b>${esc(k.name)}</b> (${esc(k.code)}) · ${esc(k.sla_tier)} · ${esc(k.coverage)}${warranty}</div>`;
  }

  function assetCard(a) {
    const latest = a.latest.map((r) => `<tr><th scope="row">${esc(r.signal)}</th><td>${Number(r.value).toFixed(2)}</td><td class="muted">${hm(r.ts)}</td></tr>`).join("");
    const incidents = a.open_incidents.map((i) => `<div class="incident" role="status"><b>${esc(i.summary)}</b><br>
      ${i.eta ? `Technician expected at <b>${hm(i.eta)}</b> UTC` : "A technician is being scheduled"}${i.work_order_status === "on_site" ? " – <b>on site now</b>" : ""}
      <span class="muted">(promised by ${hm(i.onsite_due)})</span></div>`).join("");
    return `<article class="card asset" aria-labelledby="asset-${esc(a.id)}">
      <h3 id="asset-${esc(a.id)}">${esc(a.name)} <span class="chip ${a.online ? "ok" : "late"}">${a.online ? "online" : "offline"}</span>
        ${a.open_incidents.length ? '<span class="chip risk">needs attention</span>' : '<span class="chip ok">healthy</span>'}</h3>
      <div class="muted">${esc(a.equipment_type)} · ${esc(a.id)} · last seen ${when(a.last_seen)}</div>
      ${contractLine(a.contract)}
      ${incidents}
      ${QFRul.block(a.rul)}
      ${latest ? `<table><caption class="sr-only">Latest values of ${esc(a.name)}</caption>${latest}</table>` : '<p class="muted">No readings yet.</p>'}
      <button class="secondary" data-timeline="${esc(a.id)}" aria-expanded="${open.has(a.id)}">${open.has(a.id) ? "Hide" : "Show"} timeline</button>
      <ol class="timeline" id="tl-${esc(a.id)}" ${open.has(a.id) ? "" : "hidden"}></ol></article>`;
  }

  async function loadTimeline(id) {
    const events = await api(`/api/devices/${encodeURIComponent(id)}/timeline?limit=50`);
    document.getElementById(`tl-${id}`).innerHTML = events.map((e) => `<li><span class="muted">${when(e.at)}</span> ${esc(e.summary)}</li>`).join("") || "<li>Nothing yet.</li>";
  }

  function surveyForm(s) {
    const scale = Array.from({ length: 11 }, (_, n) => `<label><input type="radio" name="score" value="${n}" required><span>${n}</span></label>`).join("");
    return `<form class="survey" data-wo="${s.work_order_id}"><p>Visit to <b>${esc(s.device_name)}</b> on ${when(s.completed_at)}${s.actual_fix ? ` – ${esc(s.actual_fix)}` : ""}</p>
      <fieldset><legend>How likely are you to recommend us to a colleague? (0 = not at all, 10 = extremely)</legend>
      <div class="scale">${scale}</div><div class="ends"><span>not at all likely</span><span>extremely likely</span></div></fieldset>
      <label><span>Anything to add? (optional)</span><input name="comment" maxlength="1000"></label>
      <p><button type="submit">Send answer</button></p><p class="msg" role="status" aria-live="polite"></p></form>`;
  }

  async function refresh() {
    const [assets, pending] = await Promise.all([api("/api/portal/assets"), api("/api/portal/surveys/pending")]);
    document.getElementById("assets").innerHTML = assets.map(assetCard).join("") || "<p>No equipment registered.</p>";
    if (window.QFReport) window.QFReport.assets(assets); // the "report a problem" form (portal-report.js)
    for (const b of document.querySelectorAll("[data-timeline]")) {
      b.addEventListener("click", async () => {
        const id = b.dataset.timeline, list = document.getElementById(`tl-${id}`);
        if (open.has(id)) { open.delete(id); list.hidden = true; } else { open.add(id); list.hidden = false; await loadTimeline(id); }
        b.setAttribute("aria-expanded", String(open.has(id))); b.textContent = `${open.has(id) ? "Hide" : "Show"} timeline`;
      });
    }
    for (const id of open) loadTimeline(id);
    const box = document.getElementById("surveys");
    box.hidden = !pending.length;
    document.getElementById("survey-list").innerHTML = pending.map(surveyForm).join("");
    for (const form of document.querySelectorAll("form.survey")) {
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const f = new FormData(form), msg = form.querySelector(".msg");
        try {
          await api("/api/portal/surveys", { method: "POST", body: { work_order_id: Number(form.dataset.wo), score: Number(f.get("score")), comment: f.get("comment") || null } });
          form.innerHTML = '<p class="ok" role="status">Thank you for your answer!</p>';
        } catch (e) { msg.textContent = `Not sent: ${e.message}`; }
      });
    }
  }

  const KINDS = [["incident_detected", "We detected a problem"], ["incident_reported", "We registered your report"],
    ["technician_assigned", "A technician is on the way"], ["work_completed", "The repair is done"]];
  async function drawPrefs() {
    const rows = await api("/api/portal/preferences");
    const on = (kind, channel) => { const r = rows.find((x) => x.kind === kind && x.channel === channel)
      ?? rows.find((x) => x.kind === "*" && x.channel === channel); return r ? r.enabled : true; };
    document.getElementById("prefs").innerHTML = `<tr><th scope="col">Message</th><th scope="col">E-mail</th><th scope="col">Webhook</th></tr>`
      + KINDS.map(([kind, label]) => `<tr><th scope="row">${label}</th>${["email", "webhook"].map((ch) =>
        `<td><input type="checkbox" data-kind="${kind}" data-channel="${ch}" ${on(kind, ch) ? "checked" : ""} aria-label="${ch === "email" ? "E-mail" : "Webhook"}: ${label}"></td>`).join("")}</tr>`).join("");
    for (const box of document.querySelectorAll("#prefs input")) {
      box.addEventListener("change", async () => {
        await api("/api/portal/preferences", { method: "PUT", body: { kind: box.dataset.kind, channel: box.dataset.channel, enabled: box.checked } });
        document.getElementById("prefs-msg").textContent = "Saved.";
      });
    }
  }

  QF.start(document.getElementById("login"), ["customer"], async () => {
    document.getElementById("app").hidden = false;
    await refresh();
    await drawPrefs();
    QF.live(() => { if (!document.querySelector("form.survey :focus, form.survey input:checked")) refresh(); });
  });
})();
