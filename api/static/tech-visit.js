// Technician phone: the visit's own steps (issue #15 item 3, #16 item 6), beside tech.js's job list:
// which visit this is and why the one before failed, travel / on-site minutes, the structured completion form
// (fault mode found, fix code from the list, parts used), the customer's sign-off drawn on the screen, and the
// unused parts of a job taken back to a depot. Every step goes through tech.js's offline queue (act()).
// All visible strings are in S below, so they move into the i18n catalogue in one go.
"use strict";
const QFVisit = (() => {
  const { api, esc } = QF;
  // Every visible string of this module, from the i18n catalogues (keys tech.visit/done/signoff/returns.*).
  const t = (key, params) => QF.t(key, params);
  const S = {
    visitOf: (n, total) => (total > 1 ? t("tech.visit.visitOf", { n, total }) : t("tech.visit.visitNo", { n })),
    get returnVisit() { return t("tech.visit.returnVisit"); },
    get visit() { return t("tech.visit.label"); },
    previous: (n) => t("tech.visit.previous", { n }),
    found: (mode) => t("tech.visit.found", { mode }),
    get times() { return t("tech.visit.times"); },
    timesValue: (travel, onsite) => t("tech.visit.timesValue", { travel, onsite }),
    minutes: (n) => t("tech.visit.minutes", { n }),
    outcome: (o) => t(`tech.visit.outcome.${o}`),
    get faultFound() { return t("tech.done.faultFound"); },
    get fix() { return t("tech.done.fix"); },
    get chooseFix() { return t("tech.done.chooseFix"); },
    partsUsed: (sku) => t("tech.done.partsUsed", { sku }),
    get otherParts() { return t("tech.done.otherParts"); },
    get notes() { return t("tech.done.notes"); },
    get jobDone() { return t("tech.done.jobDone"); },
    get notFixedQ() { return t("tech.done.notFixedQ"); },
    get why() { return t("tech.done.why"); },
    get wrongPart() { return t("tech.done.wrongPart"); },
    get wrongDiagnosis() { return t("tech.done.wrongDiagnosis"); },
    get otherReason() { return t("tech.done.otherReason"); },
    get notFixed() { return t("tech.done.notFixed"); },
    get signoff() { return t("tech.signoff.title"); },
    get signerName() { return t("tech.signoff.name"); },
    get signHere() { return t("tech.signoff.signHere"); },
    get clear() { return t("tech.signoff.clear"); },
    get saveSignoff() { return t("tech.signoff.save"); },
    signedBy: (name) => t("tech.signoff.signedBy", { name }),
    signatureOf: (name) => t("tech.signoff.imageAlt", { name }),
    get needName() { return t("tech.signoff.needName"); },
    get needSignature() { return t("tech.signoff.needSignature"); },
    get unusedInVan() { return t("tech.returns.unused"); },
    get depot() { return t("tech.returns.depot"); },
    get returnBtn() { return t("tech.returns.button"); },
    get returned() { return t("tech.returns.done"); },
    refused: (reason) => t("tech.step.refused", { reason }),
  };
  const LISTS = "qf-tech-lists";
  let lists = JSON.parse(localStorage.getItem(LISTS) || '{"fix_codes": [], "fault_modes": {}}');
  async function loadLists() {
    try { lists = await api("/api/tech/fix-codes"); localStorage.setItem(LISTS, JSON.stringify(lists)); }
    catch (e) { /* offline: the cached lists stay */ }
  }
  // A fault's name in the viewer's language (fault.<mode>), its English label where no catalogue has it.
  const modeText = (m) => I18N.message({ key: `fault.${m}` }, String(m || "").replace(/_/g, " "));
  const mins = (m) => (m == null ? "–" : S.minutes(Math.round(m)));

  // --- which visit, why the last one failed, times ------------------------------------------------------
  function visitHtml(j) {
    const p = j.previous_visit, rows = [];
    if ((j.visit_no || 1) > 1 || (j.visits || 1) > 1) {
      rows.push(`<dt>${j.visit_no > 1 ? `<span class="chip late">${S.returnVisit}</span>` : S.visit}</dt><dd class="visit-no">${esc(S.visitOf(j.visit_no || 1, j.visits || 1))}</dd>`);
    }
    if (p) {
      rows.push(`<dt>${esc(S.previous(p.visit_no))}</dt><dd class="prev-visit">${esc(p.outcome ? S.outcome(p.outcome) : "")}${p.found_fault_mode ? ` <span class="muted">(${esc(S.found(modeText(p.found_fault_mode)))})</span>` : ""}${p.notes ? `<br><span class="muted">${esc(p.notes)}</span>` : ""}</dd>`);
    }
    if (j.travel_min != null || j.onsite_min != null) {
      rows.push(`<dt>${S.times}</dt><dd class="visit-times">${esc(S.timesValue(mins(j.travel_min), mins(j.onsite_min)))}</dd>`);
    }
    return rows.join("");
  }

  // --- the structured completion form ---------------------------------------------------------------------
  function modesFor(j) {
    const known = lists.fault_modes[j.equipment_type] || [];
    return known.length ? known : (j.fault_mode ? [j.fault_mode] : []);
  }
  function fixOptions(mode, chosen) {
    const codes = lists.fix_codes || [];
    const fits = codes.filter((c) => (c.fault_modes || []).includes(mode));
    const rest = codes.filter((c) => !(c.fault_modes || []).includes(mode));
    return `<option value="">${S.chooseFix}</option>` + [...fits, ...rest].map((c) => `<option value="${esc(c.code)}"${c.code === chosen ? " selected" : ""}>${esc(c.label)}</option>`).join("");
  }
  // What is being filled in survives the list being re-drawn by a live update (work order id -> field -> value).
  // Part counts are keyed by SKU (the list may come back in another order) and are text inputs with a numeric
  // keypad, not type=number: a number input exposes no selection, so a re-draw between selecting the old count
  // and typing the new one put the caret before the old digits and "1" became "13" (the whole-suite flake of
  // test_return_visit..., and what a technician would see on a slow phone).
  const filled = {};
  function completionHtml(j) {
    const modes = modesFor(j), parts = (j.parts || []).filter((p) => p && p.sku), d = filled[j.id] || {};
    const mode = d.fault_mode || j.fault_mode;
    const partInputs = parts.map((p) => `<label><span>${esc(S.partsUsed(p.sku))}</span><input name="part:${esc(p.sku)}" data-sku="${esc(p.sku)}" inputmode="numeric" pattern="[0-9]{1,2}" value="${esc(d[`part:${p.sku}`] ?? p.qty ?? 1)}"></label>`).join("");
    return `<form class="done-form" data-wo="${j.id}">
      <label for="fm-${j.id}">${S.faultFound}</label><select id="fm-${j.id}" name="fault_mode" required>${modes.map((m) => `<option value="${esc(m)}"${m === mode ? " selected" : ""}>${esc(modeText(m))}</option>`).join("")}</select>
      <label for="fc-${j.id}">${S.fix}</label><select id="fc-${j.id}" name="fix_code" required>${fixOptions(mode, d.fix_code)}</select>
      ${partInputs}
      <label><span>${S.otherParts}</span><input name="parts" value="${esc(d.parts || "")}"></label>
      <label><span>${S.notes}</span><textarea name="notes" rows="2" maxlength="2000">${esc(d.notes || "")}</textarea></label>
      <button type="submit">${S.jobDone}</button>
      <details class="not-fixed"><summary>${S.notFixedQ}</summary>
        <label for="nf-${j.id}">${S.why}</label><select id="nf-${j.id}" name="outcome">${[["wrong_part", S.wrongPart], ["wrong_diagnosis", S.wrongDiagnosis], ["not_fixed", S.otherReason]].map(([v, text]) => `<option value="${v}"${v === d.outcome ? " selected" : ""}>${text}</option>`).join("")}</select>
        <button type="button" data-not-fixed>${S.notFixed}</button></details></form>`;
  }
  function bindCompletion(li, job, act) {
    const form = li.querySelector("form.done-form");
    if (!form) return;
    const keep = (ev) => { if (ev.target.name) (filled[job.id] || (filled[job.id] = {}))[ev.target.name] = ev.target.value; };
    form.addEventListener("input", keep);
    form.addEventListener("change", keep);
    form.fault_mode.addEventListener("change", () => { form.fix_code.innerHTML = fixOptions(form.fault_mode.value, form.fix_code.value); });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const code = form.fix_code.value, label = form.fix_code.selectedOptions[0]?.textContent || code;
      const used = [...form.querySelectorAll("input[data-sku]")].filter((i) => parseInt(i.value, 10) > 0)
        .map((i) => `${i.dataset.sku} x${parseInt(i.value, 10)}`);
      const extra = String(form.parts.value || "").split(",").map((s) => s.trim()).filter(Boolean);
      job.actual_fix = label;
      delete filled[job.id];
      act(job, "completed", { fault_mode: form.fault_mode.value, fix_code: code, fix: label,
        notes: form.notes.value || null, parts_used: [...used, ...extra] });
    });
    form.querySelector("button[data-not-fixed]").addEventListener("click", () => {
      delete filled[job.id];
      act(job, "not_fixed", { outcome: form.outcome.value, fault_mode: form.fault_mode.value || null,
        notes: form.notes.value || null });
    });
  }

  // --- the customer's sign-off -----------------------------------------------------------------------------
  // Strokes are kept per job (not only on the canvas): a live update re-draws the list and the pad with it.
  const pads = {}; // work order id -> {name, strokes: [[x, y], ...][], open, msg}
  const pad = (id) => pads[id] || (pads[id] = { name: "", strokes: [], open: false, msg: "" });
  const W = 600, H = 200;
  function signoffHtml(j) {
    if (j.signoff) {
      const src = j.signoff.local || "";
      return `<div class="signed"><p class="ok">${esc(S.signedBy(j.signoff.signer_name))}</p>
        <img class="signature" alt="${esc(S.signatureOf(j.signoff.signer_name))}" ${src ? `src="${esc(src)}"` : `data-sig-url="${esc(j.signoff.signature_url || "")}"`}></div>`;
    }
    if (!["on_site", "completed"].includes(j.status)) return "";
    const d = pad(j.id);
    return `<details class="signoff" data-wo="${j.id}"${d.open ? " open" : ""}><summary>${S.signoff}</summary>
      <form class="sign-form" data-wo="${j.id}">
        <label><span>${S.signerName}</span><input name="signer_name" maxlength="120" autocomplete="off" value="${esc(d.name)}"></label>
        <span class="sign-label" id="sign-l-${j.id}">${S.signHere}</span>
        <canvas class="sign-pad" width="${W}" height="${H}" role="img" aria-labelledby="sign-l-${j.id}"></canvas>
        <div class="actions"><button type="button" class="secondary" data-clear>${S.clear}</button>
          <button type="submit">${S.saveSignoff}</button></div>
        <p class="msg sign-msg" role="status" aria-live="polite">${esc(d.msg)}</p></form></details>`;
  }
  function paint(canvas, strokes) {
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, W, H);
    g.strokeStyle = "#0b1f33"; g.lineWidth = 3; g.lineCap = "round"; g.lineJoin = "round";
    for (const s of strokes) {
      g.beginPath(); s.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
      if (s.length === 1) g.lineTo(s[0][0] + 0.1, s[0][1]);
      g.stroke();
    }
  }
  function bindSignoff(li, job, act) {
    const det = li.querySelector("details.signoff"), form = li.querySelector("form.sign-form");
    if (!det || !form) return;
    const d = pad(job.id), canvas = form.querySelector("canvas");
    paint(canvas, d.strokes);
    det.addEventListener("toggle", () => { d.open = det.open; });
    form.signer_name.addEventListener("input", () => { d.name = form.signer_name.value; });
    const at = (ev) => { const r = canvas.getBoundingClientRect(); return [(ev.clientX - r.left) * W / r.width, (ev.clientY - r.top) * H / r.height]; };
    let current = null;
    canvas.addEventListener("pointerdown", (ev) => { ev.preventDefault(); d.msg = form.querySelector(".sign-msg").textContent = ""; canvas.setPointerCapture?.(ev.pointerId); current = [at(ev)]; d.strokes.push(current); paint(canvas, d.strokes); });
    canvas.addEventListener("pointermove", (ev) => { if (!current) return; current.push(at(ev)); paint(canvas, d.strokes); });
    for (const end of ["pointerup", "pointercancel", "pointerleave"]) canvas.addEventListener(end, () => { current = null; });
    form.querySelector("[data-clear]").addEventListener("click", () => { d.strokes = []; paint(canvas, d.strokes); });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = form.signer_name.value.trim(), msg = form.querySelector(".sign-msg");
      if (!name) { d.msg = msg.textContent = S.needName; form.signer_name.focus(); return; }
      if (!d.strokes.some((s) => s.length > 1)) { d.msg = msg.textContent = S.needSignature; return; }
      const signature = canvas.toDataURL("image/png");
      job.signoff = { signer_name: name, local: signature, queued: true };
      delete pads[job.id];
      act(job, "signoff", { signer_name: name, signature });
    });
  }
  // The signature image needs the bearer token: fetched, then shown from a blob URL.
  const blobs = {};
  async function showSignatures(root) {
    for (const img of root.querySelectorAll("img.signature[data-sig-url]")) {
      const url = img.dataset.sigUrl;
      if (!url) continue;
      if (blobs[url]) { img.src = blobs[url]; continue; }
      if (!navigator.onLine) continue;
      try {
        const r = await fetch(url, { headers: { Authorization: `Bearer ${localStorage.getItem("qf-token")}` } });
        if (r.ok) { blobs[url] = URL.createObjectURL(await r.blob()); img.src = blobs[url]; }
      } catch (e) { /* offline: the name is shown without the image */ }
    }
  }

  // --- unused parts back to a depot ------------------------------------------------------------------------
  // The depot chosen per job, kept across re-draws: a live update re-draws the list, and the select would fall
  // back to the nearest depot, so the parts silently went to a depot the technician did not choose.
  const depotChoice = {}; // work order id -> depot id (string)
  function returnsHtml(j) {
    const left = j.returnable || [];
    if (!left.length) return "";
    const depots = j.return_depots || [];
    const chosen = depotChoice[j.id];
    return `<form class="return-form" data-wo="${j.id}"><p><b>${S.unusedInVan}:</b> ${left.map((p) => `${esc(p.qty)} × ${esc(p.sku)}`).join(", ")}</p>
      <label for="rd-${j.id}">${S.depot}</label><select id="rd-${j.id}" name="depot_id">${depots.map((x) => `<option value="${esc(x.id)}"${String(x.id) === chosen ? " selected" : ""}>${esc(x.name)}</option>`).join("")}</select>
      <button type="submit" class="secondary">${S.returnBtn}</button></form>`;
  }
  function bindReturns(li, job, act) {
    const form = li.querySelector("form.return-form");
    if (!form) return;
    form.depot_id.addEventListener("change", () => { depotChoice[job.id] = form.depot_id.value; });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const parts = (job.returnable || []).map((p) => `${p.sku} x${p.qty}`);
      job.returned = job.returnable; job.returnable = [];
      act(job, "return_parts", { parts_used: parts, depot_id: parseInt(form.depot_id.value, 10) });
    });
  }
  function noticeHtml(j) {
    return j.notice ? `<p class="msg late" role="alert">${esc(j.notice)}</p>` : j.returned?.length ? `<p class="ok">${S.returned}</p>` : "";
  }
  // A step the server refused for good (422/409): the phone's optimistic view is undone and the reason shown.
  function refusedStep(job, body, err) {
    if (!job) return;
    if (body.action === "signoff") job.signoff = null;
    if (body.action === "return_parts") { job.returnable = job.returned || job.returnable; job.returned = null; }
    job.notice = S.refused(err.message);
  }

  return { S, loadLists, visitHtml, completionHtml, bindCompletion, signoffHtml, bindSignoff, showSignatures,
    returnsHtml, bindReturns, noticeHtml, refusedStep };
})();
