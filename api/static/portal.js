// Customer portal: equipment health, open incidents with the technician's ETA, timeline, and the NPS question.
"use strict";
(() => {
  const { api, esc, hm, label } = QF;
  const open = new Set(); // assets whose timeline is expanded (kept across live refreshes)
  const when = (v) => I18N.datetime(v); // the customer's zone (their account's, else their company's), named

  function contractLine(k) {
    if (!k) return `<div class="muted contract">${esc(QF.t("portal.contract.none"))}</div>`;
    const warranty = k.warranty_until ? ` · ${esc(QF.t(k.under_warranty ? "portal.contract.warrantyUntil" : "portal.contract.warrantyEnded", { date: k.warranty_until }))}` : "";
    return `<div class="contract">${esc(QF.t("portal.contract.label"))} <b>${esc(k.name)}</b> (${esc(k.code)}) · ${esc(label("common.tier", k.sla_tier))} · ${esc(k.coverage)}${warranty}</div>`;
  }

  function assetCard(a) {
    const latest = a.latest.map((r) => `<tr><th scope="row">${esc(r.signal)}</th><td>${I18N.number(r.value, 2)}</td><td class="muted">${hm(r.ts)}</td></tr>`).join("");
    const incidents = a.open_incidents.map((i) => `<div class="incident" role="status"><b>${esc(I18N.message(i.summary_message, i.summary))}</b><br>
      ${i.eta ? `${esc(QF.t("portal.incident.expected"))} <b>${hm(i.eta)}</b>` : esc(QF.t("portal.incident.scheduling"))}${i.work_order_status === "on_site" ? ` – <b>${esc(QF.t("portal.incident.onSite"))}</b>` : ""}
      <span class="muted">${esc(QF.t("portal.incident.promised", { at: hm(i.onsite_due) }))}</span></div>`).join("");
    return `<article class="card asset" aria-labelledby="asset-${esc(a.id)}">
      <h3 id="asset-${esc(a.id)}">${esc(a.name)} <span class="chip ${a.online ? "ok" : "late"}">${esc(QF.t(a.online ? "portal.asset.online" : "portal.asset.offline"))}</span>
        ${a.open_incidents.length ? `<span class="chip risk">${esc(QF.t("portal.asset.attention"))}</span>` : `<span class="chip ok">${esc(QF.t("portal.asset.healthy"))}</span>`}</h3>
      <div class="muted">${esc(label("common.equipment", a.equipment_type))} · ${esc(a.id)} · ${esc(QF.t("portal.asset.lastSeen", { at: when(a.last_seen) }))}</div>
      ${contractLine(a.contract)}
      ${incidents}
      ${QFRul.block(a.rul, a.open_incidents)}
      ${latest ? `<table><caption class="sr-only">${esc(QF.t("portal.asset.latest", { name: a.name }))}</caption>${latest}</table>` : `<p class="muted">${esc(QF.t("portal.asset.noReadings"))}</p>`}
      <button class="secondary" data-timeline="${esc(a.id)}" aria-expanded="${open.has(a.id)}">${esc(QF.t(open.has(a.id) ? "portal.timeline.hide" : "portal.timeline.show"))}</button>
      <ol class="timeline" id="tl-${esc(a.id)}" ${open.has(a.id) ? "" : "hidden"}></ol></article>`;
  }

  // A timeline event in the reader's words: the message it was stored with (migration 0821), else its kind's
  // catalogue message with the event's data (times in the reader's zone), else the summary the server wrote
  // (English) for older rows of kinds without one.
  function timelineText(e) {
    const key = `portal.event.${e.kind}`, d = e.data || {};
    if (e.message && I18N.has(e.message.key)) return I18N.message(e.message, e.summary);
    if (!I18N.has(key)) return e.summary;
    return QF.t(key, { ...d, eta: d.eta ? hm(d.eta) : "–", technician: d.technician || "", fix: d.fix || "" });
  }

  async function loadTimeline(id) {
    const events = await api(`/api/devices/${encodeURIComponent(id)}/timeline?limit=50`);
    document.getElementById(`tl-${id}`).innerHTML = events.map((e) => `<li><span class="muted">${when(e.at)}</span> ${esc(timelineText(e))}</li>`).join("") || `<li>${esc(QF.t("portal.timeline.empty"))}</li>`;
  }

  // A live update re-draws the list: what the customer chose and wrote is kept per work order (a refresh that
  // was already on its way when they clicked used to wipe the score, and "Send answer" then did nothing), and the
  // thanks for an answer stays until the page is reloaded, even though the survey is no longer pending.
  const drafts = {}; // work order id -> {score, comment}
  const thanked = new Set(); // work order ids answered on this page
  const thanksHtml = (wo) => `<form class="survey" data-wo="${esc(wo)}"><p class="ok" role="status">${esc(QF.t("portal.survey.thanks"))}</p></form>`;
  function surveyForm(s) {
    const d = drafts[s.work_order_id] || {};
    const scale = Array.from({ length: 11 }, (_, n) => `<label><input type="radio" name="score" value="${n}" required${String(n) === d.score ? " checked" : ""}><span>${n}</span></label>`).join("");
    return `<form class="survey" data-wo="${s.work_order_id}"><p>${esc(QF.t("portal.survey.visit", { device: s.device_name, at: when(s.completed_at) }))}${s.actual_fix ? ` – ${esc(s.actual_fix)}` : ""}</p>
      <fieldset><legend>${esc(QF.t("portal.survey.question"))}</legend>
      <div class="scale">${scale}</div><div class="ends"><span>${esc(QF.t("portal.survey.low"))}</span><span>${esc(QF.t("portal.survey.high"))}</span></div></fieldset>
      <label><span>${esc(QF.t("portal.survey.comment"))}</span><input name="comment" maxlength="1000" value="${esc(d.comment || "")}"></label>
      <p><button type="submit">${esc(QF.t("portal.survey.send"))}</button></p><p class="msg" role="status" aria-live="polite"></p></form>`;
  }

  async function refresh() {
    const [assets, pending] = await Promise.all([api("/api/portal/assets"), api("/api/portal/surveys/pending")]);
    document.getElementById("assets").innerHTML = assets.map(assetCard).join("") || `<p>${esc(QF.t("portal.asset.none"))}</p>`;
    if (window.QFReport) window.QFReport.assets(assets); // the "report a problem" form (portal-report.js)
    for (const b of document.querySelectorAll("[data-timeline]")) {
      b.addEventListener("click", async () => {
        const id = b.dataset.timeline, list = document.getElementById(`tl-${id}`);
        if (open.has(id)) { open.delete(id); list.hidden = true; } else { open.add(id); list.hidden = false; await loadTimeline(id); }
        b.setAttribute("aria-expanded", String(open.has(id))); b.textContent = QF.t(open.has(id) ? "portal.timeline.hide" : "portal.timeline.show");
      });
    }
    for (const id of open) loadTimeline(id);
    const box = document.getElementById("surveys");
    const unanswered = pending.filter((s) => !thanked.has(String(s.work_order_id)));
    box.hidden = !unanswered.length && !thanked.size;
    document.getElementById("survey-list").innerHTML = unanswered.map(surveyForm).join("") + [...thanked].map(thanksHtml).join("");
    for (const form of document.querySelectorAll("form.survey")) {
      if (!form.querySelector("button")) continue; // already answered
      const wo = form.dataset.wo;
      const keep = () => { const f = new FormData(form); drafts[wo] = { score: f.get("score") ?? undefined, comment: f.get("comment") || "" }; };
      form.addEventListener("input", keep);
      form.addEventListener("change", keep);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const f = new FormData(form), msg = form.querySelector(".msg");
        try {
          await api("/api/portal/surveys", { method: "POST", body: { work_order_id: Number(wo), score: Number(f.get("score")), comment: f.get("comment") || null } });
          thanked.add(wo);
          delete drafts[wo];
          form.innerHTML = `<p class="ok" role="status">${esc(QF.t("portal.survey.thanks"))}</p>`;
        } catch (e) { msg.textContent = QF.t("portal.notSent", { error: e.message }); }
      });
    }
  }

  const KINDS = ["incident_detected", "incident_reported", "visit_planned", "technician_assigned", "work_completed"]; // portal.prefs.kind.*
  async function drawPrefs() {
    const rows = await api("/api/portal/preferences");
    const on = (kind, channel) => { const r = rows.find((x) => x.kind === kind && x.channel === channel)
      ?? rows.find((x) => x.kind === "*" && x.channel === channel); return r ? r.enabled : true; };
    const ch = { email: QF.t("portal.prefs.email"), webhook: QF.t("portal.prefs.webhook") };
    document.getElementById("prefs").innerHTML = `<tr><th scope="col">${esc(QF.t("portal.prefs.message"))}</th><th scope="col">${esc(ch.email)}</th><th scope="col">${esc(ch.webhook)}</th></tr>`
      + KINDS.map((kind) => { const text = QF.t(`portal.prefs.kind.${kind}`); return `<tr><th scope="row">${esc(text)}</th>${["email", "webhook"].map((c) =>
        `<td><input type="checkbox" data-kind="${kind}" data-channel="${c}" ${on(kind, c) ? "checked" : ""} aria-label="${esc(ch[c])}: ${esc(text)}"></td>`).join("")}</tr>`; }).join("");
    for (const box of document.querySelectorAll("#prefs input")) {
      box.addEventListener("change", async () => {
        await api("/api/portal/preferences", { method: "PUT", body: { kind: box.dataset.kind, channel: box.dataset.channel, enabled: box.checked } });
        document.getElementById("prefs-msg").textContent = QF.t("portal.prefs.saved");
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
