// Administration page: master data forms and lists, technicians' calendars, users, device credentials, CSV import.
// Every write goes to /api/admin/…; a 422 names the field and the reason, shown next to that field.
"use strict";
(() => {
  const { esc } = QF;
  const TIERS = ["key", "gold", "standard", "bronze"];
  const ROLES = ["admin", "dispatcher", "technician", "customer", "support", "engineering"];
  // SLA pause rules (sla_pause_rules): per contract yes / no / the tier's default; per tier yes / no.
  const PAUSE_KINDS = ["on_hold", "awaiting_parts", "customer_window"];
  const PAUSE_COLS = PAUSE_KINDS.map((k) => `pause_${k}`);
  const pauseWord = (v) => (v === true ? "yes" : v === false ? "no" : "default");
  // Labels come from the catalogue: admin.field.<name> (also the column headers), admin.hint.<name> (placeholders).
  const f = (name, extra = {}) => ({ name, ...extra });
  const SPEC = {
    customers: { key: "code", cols: ["code", "name", "tier", "email", "phone", "language", "timezone", "sites"],
      fields: [f("code"), f("name"), f("tier", { options: TIERS }), f("email"),
        f("phone"), f("language"),
        f("timezone")] },
    sites: { key: "code", cols: ["code", "customer_code", "name", "address", "lat", "lon", "access_days", "access_start", "access_end", "assets"],
      fields: [f("code"), f("customer_code"), f("name"), f("address"),
        f("lat"), f("lon"), f("access_hours")] },
    assets: { key: "serial", cols: ["serial", "site_code", "customer_code", "equipment_type", "model", "installed_on", "device_id", "online"],
      fields: [f("serial"), f("site_code"), f("equipment_type", { options: ["pump", "chiller", "compressor"] }),
        f("model"), f("installed_on", { type: "date" }), f("device_id")] },
    devices: { key: "id", cols: ["id", "customer_code", "site_code", "asset_serial", "equipment_type", "online", "last_seen"], fields: [] },
    technicians: { key: "code", cols: ["code", "name", "skills", "shift_start", "shift_end", "timezone", "van", "home_base", "username", "absences"],
      fields: [f("code"), f("name"), f("email"), f("skills"),
        f("home_lat"), f("home_lon"), f("shift"),
        f("timezone"), f("van"), f("home_base")] },
    contracts: { key: "code", cols: ["code", "customer_code", "tier", "coverage_days", "coverage_start", "coverage_end", "response_min", "onsite_min", "repair_h", "starts_on", "ends_on", ...PAUSE_COLS],
      fields: [f("code"), f("customer_code"), f("tier", { options: TIERS }),
        f("coverage"), f("response_min"),
        f("onsite_min"), f("repair_h"), f("starts_on", { type: "date" }), f("ends_on", { type: "date" }),
        ...PAUSE_COLS.map((c) => f(c, { options: ["default", "yes", "no"], labels: "admin.pause" }))] },
    users: { key: "username", cols: ["username", "role", "customer_code", "technician_code", "email", "timezone", "disabled"],
      fields: [f("username"), f("role", { options: ROLES }), f("customer_code"),
        f("technician_code"), f("email"), f("language"),
        f("timezone"), f("password", { type: "password" })] },
  };
  let me = null;
  const token = () => localStorage.getItem("qf-token");

  async function call(path, { method = "GET", body, form } = {}) {
    const headers = { Authorization: `Bearer ${token()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: form ?? (body === undefined ? undefined : JSON.stringify(body)) });
    if (r.status === 401) { QF.logout(false); location.reload(); }
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, data };
  }
  function say(panel, text, ok) {
    const m = panel.querySelector(".msg"); m.textContent = text; m.classList.toggle("ok", !!ok);
  }
  // A credential or first password is shown once, until the admin says it is copied (it is stored nowhere).
  function showSecret(text) {
    document.getElementById("secret").textContent = text;
    const box = document.getElementById("secret-box"); box.hidden = false;
    document.getElementById("secret-done").onclick = () => { box.hidden = true; document.getElementById("secret").textContent = ""; };
  }
  const cell = (v) => Array.isArray(v) ? (v.length && typeof v[0] === "object" ? `${v.length}` : v.join(", ")) : v === true ? QF.t("admin.yes") : v === false ? QF.t("admin.no") : v ?? "";
  // A contract's rule, or which rule its tier's default gives it (so the list says what the clock does).
  const pauseCell = (row, col) => row[col] != null ? QF.t(`admin.pause.${pauseWord(row[col])}`)
    : QF.t("admin.pause.defaultIs", { rule: QF.t(`admin.pause.${pauseWord((row.tier_pauses || {})[col.slice(6)] ?? false)}`) });
  const fieldLabel = (name) => (I18N.has(`admin.field.${name}`) ? QF.t(`admin.field.${name}`) : name);
  const hint = (name) => (I18N.has(`admin.hint.${name}`) ? QF.t(`admin.hint.${name}`) : "");
  const title = (id) => QF.t(`admin.tab.${id}`);
  // A 422 reason (or an import problem) in the viewer's language: its catalogue message, else the English text.
  const why = (d) => I18N.message(d.i18n, d.reason ?? d.message);

  function formHtml(id, fields) {
    return `<form class="form" data-form="${id}" novalidate>${fields.map((x) => `<label><span>${esc(fieldLabel(x.name))}</span>${x.options
      ? `<select name="${x.name}" aria-describedby="${id}-${x.name}-err">${x.options.map((o) => `<option value="${o}">${esc(QF.label(x.labels || (x.name === "role" ? "common.role" : x.name === "tier" ? "common.tier" : "common.equipment"), o))}</option>`).join("")}</select>`
      : `<input name="${x.name}" type="${x.type || "text"}" placeholder="${esc(hint(x.name))}" aria-describedby="${id}-${x.name}-err">`}
      <span class="err" id="${id}-${x.name}-err"></span></label>`).join("")}
      <div class="actions"><button type="submit">${esc(QF.t("admin.save"))}</button><button type="reset" class="secondary">${esc(QF.t("admin.clear"))}</button>
      <p class="msg" role="status" aria-live="polite"></p></div></form>`;
  }
  function fieldErrors(form, detail) {
    form.querySelectorAll(".err").forEach((e) => { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const unplaced = [];
    for (const d of Array.isArray(detail) ? detail : []) {
      const input = form.querySelector(`[name="${d.field}"]`);
      if (!input) { unplaced.push(`${d.field}: ${why(d)}`); continue; }
      input.setAttribute("aria-invalid", "true");
      form.querySelector(`#${input.getAttribute("aria-describedby")}`).textContent = why(d);
    }
    return unplaced;
  }

  async function renderList(id, panel) {
    const spec = SPEC[id];
    const r = await call(`/api/admin/${id}`);
    const rows = r.ok ? r.data : [];
    const actions = id === "devices" || id === "users";
    panel.querySelector(".list").innerHTML = `<table><caption class="sr-only">${esc(title(id))}</caption><thead><tr>${spec.cols.map((c) => `<th scope="col">${esc(fieldLabel(c))}</th>`).join("")}${actions ? `<th>${esc(QF.t("admin.actions"))}</th>` : ""}</tr></thead>
      <tbody>${rows.map((row) => `<tr data-key="${esc(row[spec.key])}">${spec.cols.map((c) => `<td${PAUSE_COLS.includes(c) ? ` data-col="${c}"` : ""}>${esc(PAUSE_COLS.includes(c) ? pauseCell(row, c) : cell(row[c]))}</td>`).join("")}${actions ? `<td>${rowActions(id, row)}</td>` : ""}</tr>`).join("")}</tbody></table>`;
    panel.querySelectorAll(".list tbody tr").forEach((tr, i) => tr.addEventListener("click", (ev) => {
      if (ev.target.closest("button")) return;
      fill(panel, id, rows[i]);
    }));
    panel.querySelectorAll("[data-act]").forEach((b) => b.addEventListener("click", () => act(id, b.dataset.act, b.dataset.key, panel)));
    return rows;
  }
  function rowActions(id, row) {
    const k = esc(row[SPEC[id].key]);
    if (id === "devices") return `<button data-act="provision" data-key="${k}">${esc(QF.t("admin.provision"))}</button> <button class="secondary" data-act="revoke" data-key="${k}">${esc(QF.t("admin.revoke"))}</button>`;
    return `${row.disabled ? `<button data-act="enable" data-key="${k}">${esc(QF.t("admin.enable"))}</button>` : `<button class="secondary" data-act="disable" data-key="${k}">${esc(QF.t("admin.disable"))}</button>`} <button class="secondary" data-act="reset-password" data-key="${k}">${esc(QF.t("admin.resetPassword"))}</button>`;
  }
  async function act(id, action, key, panel) {
    const path = id === "devices" ? `/api/admin/devices/${encodeURIComponent(key)}/${action}` : `/api/admin/users/${encodeURIComponent(key)}/${action}`;
    const r = await call(path, { method: "POST" });
    if (!r.ok) { say(panel, typeof r.data?.detail === "string" ? QF.detailText(r.data.detail) : `HTTP ${r.status}`); return; }
    if (action === "provision") showSecret(QF.t("admin.secret.device", { key, username: r.data.username, password: r.data.password, broker: r.data.mqtt_url }));
    else if (action === "reset-password") showSecret(QF.t("admin.secret.reset", { key, password: r.data.password }));
    else say(panel, QF.t("admin.actionDone", { key, action }), true);
    renderList(id, panel);
  }
  function fill(panel, id, row) {
    const form = panel.querySelector(`[data-form="${id}"]`);
    if (!form) return;
    const hours = (days, a, b) => {
      if (!days) return "";
      const n = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
      const end = (b || "").slice(0, 5) === "24:00" ? "24:00" : (b || "").slice(0, 5);
      if (days.length === 7 && a.startsWith("00:00") && end === "24:00") return "24x7";
      return `${days.map((d) => n[d - 1]).join(",")} ${a.slice(0, 5)}-${end}`;
    };
    const wp = row.working_pattern || {}, wdays = Object.keys(wp).map(Number).sort(), first = wdays.length ? wp[wdays[0]][0] : null;
    const v = { ...row, access_hours: hours(row.access_days, row.access_start, row.access_end),
      shift: first ? hours(wdays, first.start, first.end) : "",
      coverage: hours(row.coverage_days, row.coverage_start, row.coverage_end), skills: (row.skills || []).join?.(";") };
    if (id === "contracts") for (const c of PAUSE_COLS) v[c] = pauseWord(row[c]);
    for (const el of form.elements) if (el.name && v[el.name] != null && el.type !== "password") el.value = v[el.name];
    form.querySelector("input,select").focus();
  }

  function bindForm(id, panel) {
    const form = panel.querySelector(`[data-form="${id}"]`);
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ""));
      let r;
      if (id === "users") {
        const exists = [...panel.querySelectorAll("tbody tr")].some((tr) => tr.dataset.key === body.username);
        r = exists ? await call(`/api/admin/users/${encodeURIComponent(body.username)}`, { method: "PUT", body })
          : await call("/api/admin/users", { method: "POST", body });
        if (r.ok && r.data.password) showSecret(QF.t("admin.secret.first", { key: body.username, password: r.data.password }));
      } else {
        const key = body[SPEC[id].key] || "";
        if (!key) { fieldErrors(form, [{ field: SPEC[id].key, reason: QF.t("admin.required") }]); return; }
        r = await call(`/api/admin/${id}/${encodeURIComponent(key)}`, { method: "PUT", body });
      }
      const rest = fieldErrors(form, r.ok ? [] : r.data?.detail);
      if (!r.ok) { say(panel, rest.length ? rest.join("; ") : typeof r.data?.detail === "string" ? QF.detailText(r.data.detail) : QF.t("portal.report.fix"), false); return; }
      say(panel, QF.t("admin.result", { result: r.data.result || "saved", key: body[SPEC[id].key] }), true);
      renderList(id, panel);
    });
  }

  function calendarHtml() {
    const day = (i) => new Intl.DateTimeFormat(I18N.lang, { weekday: "short", timeZone: "UTC" }).format(new Date(Date.UTC(2024, 0, 1 + i))); // 2024-01-01 was a Monday
    const c = (k) => esc(QF.t(`admin.cal.${k}`));
    return `<section class="card" aria-labelledby="cal-h"><h2 id="cal-h">${c("title")}</h2>
      <form class="form" data-cal="pattern"><label><span>${c("code")}</span><input name="code" required></label>
        <div class="days" role="group" aria-label="${c("days")}">${[0, 1, 2, 3, 4, 5, 6].map((i) => `<label><input type="checkbox" name="day" value="${i + 1}" ${i < 5 ? "checked" : ""}>${esc(day(i))}</label>`).join("")}</div>
        <label><span>${c("from")}</span><input name="start" type="time" value="08:00"></label><label><span>${c("to")}</span><input name="end" type="time" value="17:00"></label>
        <label><span>${c("breakAt")}</span><input name="break_start" type="time" value="12:00"></label><label><span>${c("breakMinutes")}</span><input name="break_minutes" type="number" value="30"></label>
        <div class="actions"><button type="submit">${c("savePattern")}</button><p class="msg" role="status" aria-live="polite"></p></div></form>
      <form class="form" data-cal="absence"><label><span>${c("code")}</span><input name="code" required></label>
        <label><span>${c("kind")}</span><select name="kind">${["holiday", "sick", "training", "absence"].map((k) => `<option value="${k}">${c(`kind.${k}`)}</option>`).join("")}</select></label>
        <label><span>${c("from")}</span><input name="starts_at" type="datetime-local" required></label><label><span>${c("until")}</span><input name="ends_at" type="datetime-local" required></label>
        <label><span>${c("note")}</span><input name="note"></label>
        <div class="actions"><button type="submit">${c("addAbsence")}</button><p class="msg" role="status" aria-live="polite"></p></div></form></section>`;
  }
  function bindCalendar(panel) {
    const iso = (local) => local ? new Date(local).toISOString() : "";
    panel.querySelectorAll("[data-cal]").forEach((form) => form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const d = new FormData(form), code = encodeURIComponent(d.get("code"));
      const msg = form.querySelector(".msg");
      let r;
      if (form.dataset.cal === "pattern") {
        const brk = d.get("break_start") ? [{ start: d.get("break_start"), minutes: Number(d.get("break_minutes") || 0) }] : [];
        r = await call(`/api/admin/technicians/${code}/pattern`, { method: "PUT", body: { days: d.getAll("day").map((w) => ({ weekday: Number(w), start: d.get("start"), end: d.get("end"), breaks: brk })) } });
      } else {
        r = await call(`/api/admin/technicians/${code}/absences`, { method: "POST", body: { kind: d.get("kind"), starts_at: iso(d.get("starts_at")), ends_at: iso(d.get("ends_at")), note: d.get("note") } });
      }
      msg.classList.toggle("ok", r.ok);
      msg.textContent = r.ok ? QF.t("admin.cal.saved") : Array.isArray(r.data?.detail) ? r.data.detail.map((x) => `${x.field}: ${why(x)}`).join("; ") : QF.detailText(r.data?.detail) || `HTTP ${r.status}`;
      renderList("technicians", panel);
    }));
  }

  function pauseHtml() {
    const c = (k, p) => esc(QF.t(`admin.pause.${k}`, p));
    return `<section class="card" aria-labelledby="pause-h"><h2 id="pause-h">${c("title")}</h2><p class="muted">${c("help")}</p>
      <table id="tier-pauses"><thead><tr><th scope="col">${esc(fieldLabel("tier"))}</th>${PAUSE_COLS.map((k) => `<th scope="col">${esc(fieldLabel(k))}</th>`).join("")}<th></th></tr></thead>
      <tbody>${TIERS.map((t) => `<tr data-tier="${t}"><th scope="row">${esc(QF.label("common.tier", t))}</th>${PAUSE_KINDS.map((k) => `<td><select name="${k}" aria-label="${esc(`${QF.label("common.tier", t)}: ${fieldLabel(`pause_${k}`)}`)}">${["yes", "no"].map((o) => `<option value="${o}">${c(o)}</option>`).join("")}</select></td>`).join("")}
        <td><button type="button" class="secondary" data-save-tier="${t}">${c("save", { tier: QF.label("common.tier", t) })}</button></td></tr>`).join("")}</tbody></table>
      <p class="msg" id="pause-msg" role="status" aria-live="polite"></p></section>`;
  }
  async function loadPauses(panel) {
    const r = await call("/api/admin/sla-pause-rules");
    if (!r.ok) return;
    for (const [tier, rules] of Object.entries(r.data.tiers)) {
      for (const [kind, pauses] of Object.entries(rules)) {
        const sel = panel.querySelector(`tr[data-tier="${tier}"] select[name="${kind}"]`);
        if (sel) sel.value = pauseWord(pauses);
      }
    }
  }
  function bindPauses(panel) {
    loadPauses(panel);
    panel.querySelectorAll("[data-save-tier]").forEach((b) => b.addEventListener("click", async () => {
      const tier = b.dataset.saveTier, tr = panel.querySelector(`tr[data-tier="${tier}"]`);
      const body = Object.fromEntries([...tr.querySelectorAll("select")].map((s) => [s.name, s.value]));
      const r = await call(`/api/admin/sla-pause-rules/${tier}`, { method: "PUT", body });
      const msg = panel.querySelector("#pause-msg");
      msg.classList.toggle("ok", r.ok);
      msg.textContent = r.ok ? QF.t("admin.pause.saved", { result: r.data.result, tier: QF.label("common.tier", tier) })
        : Array.isArray(r.data?.detail) ? r.data.detail.map((x) => `${x.field}: ${why(x)}`).join("; ") : QF.detailText(r.data?.detail) || `HTTP ${r.status}`;
      renderList("contracts", panel);
    }));
  }

  function importHtml() {
    const c = (k) => esc(QF.t(`admin.import.${k}`));
    return `<section class="card" aria-labelledby="imp-h"><h2 id="imp-h">${c("title")}</h2>
      <p class="muted">${c("help")}</p>
      <form class="form" id="import-form"><label><span>${c("files")}</span><input type="file" name="files" accept=".csv,text/csv" multiple required></label>
        <label class="row"><span>${c("dryRun")}</span><input type="checkbox" name="dry_run"></label>
        <div class="actions"><button type="submit">${c("submit")}</button><p class="msg" role="status" aria-live="polite"></p></div></form>
      <div id="import-report" class="report"></div></section>`;
  }
  function bindImport(panel) {
    panel.querySelector("#import-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = new FormData(ev.target), dry = form.get("dry_run") === "on";
      form.delete("dry_run");
      const r = await call(`/api/admin/import?dry_run=${dry}`, { method: "POST", form });
      const rep = r.data || {}, out = panel.querySelector("#import-report");
      const counts = (k) => Object.entries(rep[k] || {}).map(([e, n]) => `${e} ${n}`).join(", ");
      say(panel, r.ok ? QF.t("admin.import.done", { dry: dry ? "yes" : "no", created: counts("created"), updated: counts("updated"), unchanged: counts("unchanged") }) : QF.t("admin.import.failed", { count: (rep.errors || []).length }), r.ok);
      out.innerHTML = (rep.errors || []).length ? `<table><caption>${esc(QF.t("admin.import.errors"))}</caption><thead><tr>${["file", "line", "column", "problem"].map((k) => `<th>${esc(QF.t(`admin.import.col.${k}`))}</th>`).join("")}</tr></thead><tbody>${rep.errors.map((e) => `<tr><td>${esc(e.file)}</td><td>${e.line}</td><td>${esc(e.column)}</td><td>${esc(why(e))}</td></tr>`).join("")}</tbody></table>` : "";
    });
  }

  function show(id) {
    document.querySelectorAll("#tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === id)));
    document.querySelectorAll(".panel").forEach((p) => { p.hidden = p.dataset.panel !== id; });
    const panel = document.querySelector(`[data-panel="${id}"]`);
    if (SPEC[id]) renderList(id, panel);
    location.hash = id;
  }
  function build() {
    const ids = me.role === "admin" ? [...Object.keys(SPEC), "import"] : ["technicians"];
    document.getElementById("tabs").innerHTML = ids.map((id) => `<button role="tab" data-tab="${id}" aria-controls="panel-${id}">${esc(title(id))}</button>`).join("");
    document.getElementById("panels").innerHTML = ids.map((id) => `<section class="panel" role="tabpanel" id="panel-${id}" data-panel="${id}" aria-label="${id}" hidden>
      ${id === "import" ? importHtml() : `${SPEC[id].fields.length && me.role === "admin" ? `<section class="card"><h2>${esc(QF.t("admin.addOrChange", { title: title(id) }))}</h2>${formHtml(id, SPEC[id].fields)}</section>` : `<p class="msg" role="status"></p>`}
      ${id === "technicians" ? calendarHtml() : ""}${id === "contracts" && me.role === "admin" ? pauseHtml() : ""}<section class="card list"></section>`}</section>`).join("");
    for (const id of ids) {
      const panel = document.querySelector(`[data-panel="${id}"]`);
      if (id === "import") bindImport(panel); else bindForm(id, panel);
      if (id === "technicians") bindCalendar(panel);
      if (id === "contracts") bindPauses(panel);
    }
    document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
    show(ids.includes(location.hash.slice(1)) ? location.hash.slice(1) : ids[0]);
  }
  QF.start(document.getElementById("login"), ["admin", "dispatcher"], (who) => {
    me = who; document.getElementById("app").hidden = false; build();
  });
})();
