// Administration page: master data forms and lists, technicians' calendars, users, device credentials, CSV import.
// Every write goes to /api/admin/…; a 422 names the field and the reason, shown next to that field.
"use strict";
(() => {
  const { esc } = QF;
  const TIERS = ["key", "gold", "standard", "bronze"];
  const ROLES = ["admin", "dispatcher", "technician", "customer", "support", "engineering"];
  const f = (name, label, extra = {}) => ({ name, label, ...extra });
  const SPEC = {
    customers: { title: "Customers", key: "code", cols: ["code", "name", "tier", "email", "phone", "language", "timezone", "sites"],
      fields: [f("code", "Code"), f("name", "Name"), f("tier", "Tier", { options: TIERS }), f("email", "E-mail"),
        f("phone", "Phone"), f("language", "Language", { placeholder: "en, nl, zh-Hans" }),
        f("timezone", "Time zone", { placeholder: "Europe/Amsterdam" })] },
    sites: { title: "Sites", key: "code", cols: ["code", "customer_code", "name", "address", "lat", "lon", "access_days", "access_start", "access_end", "assets"],
      fields: [f("code", "Code"), f("customer_code", "Customer code"), f("name", "Name"), f("address", "Address"),
        f("lat", "Latitude"), f("lon", "Longitude"), f("access_hours", "Access hours", { placeholder: "24x7 or Mon-Fri 08:00-18:00" })] },
    assets: { title: "Assets", key: "serial", cols: ["serial", "site_code", "customer_code", "equipment_type", "model", "installed_on", "device_id", "online"],
      fields: [f("serial", "Serial"), f("site_code", "Site code"), f("equipment_type", "Equipment type", { options: ["pump", "chiller", "compressor"] }),
        f("model", "Model"), f("installed_on", "Installed on", { type: "date" }), f("device_id", "Device id")] },
    devices: { title: "Devices", key: "id", cols: ["id", "customer_code", "site_code", "asset_serial", "equipment_type", "online", "last_seen"], fields: [] },
    technicians: { title: "Technicians", key: "code", cols: ["code", "name", "skills", "shift_start", "shift_end", "timezone", "van", "home_base", "username", "absences"],
      fields: [f("code", "Code"), f("name", "Name"), f("email", "E-mail"), f("skills", "Skills", { placeholder: "mechanical;electrical" }),
        f("home_lat", "Home latitude"), f("home_lon", "Home longitude"), f("shift", "Shift", { placeholder: "Mon-Fri 08:00-17:00" }),
        f("timezone", "Time zone", { placeholder: "Europe/Amsterdam" }), f("van", "Van"), f("home_base", "Home base")] },
    contracts: { title: "Contracts", key: "code", cols: ["code", "customer_code", "tier", "coverage_days", "coverage_start", "coverage_end", "response_min", "onsite_min", "repair_h", "starts_on", "ends_on"],
      fields: [f("code", "Code"), f("customer_code", "Customer code"), f("tier", "Tier", { options: TIERS }),
        f("coverage", "Coverage", { placeholder: "24x7 or Mon-Fri 08:00-18:00" }), f("response_min", "Response (min)"),
        f("onsite_min", "On site (min)"), f("repair_h", "Repair (h)"), f("starts_on", "Starts on", { type: "date" }), f("ends_on", "Ends on", { type: "date" })] },
    users: { title: "Users", key: "username", cols: ["username", "role", "customer_code", "technician_code", "email", "timezone", "disabled"],
      fields: [f("username", "User name"), f("role", "Role", { options: ROLES }), f("customer_code", "Customer code (customers)"),
        f("technician_code", "Technician code (technicians)"), f("email", "E-mail"), f("language", "Language"),
        f("timezone", "Time zone"), f("password", "First password (empty: generate)", { type: "password" })] },
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
  const cell = (v) => Array.isArray(v) ? (v.length && typeof v[0] === "object" ? `${v.length}` : v.join(", ")) : v === true ? "yes" : v === false ? "no" : v ?? "";

  function formHtml(id, fields) {
    return `<form class="form" data-form="${id}" novalidate>${fields.map((x) => `<label><span>${esc(x.label)}</span>${x.options
      ? `<select name="${x.name}" aria-describedby="${id}-${x.name}-err">${x.options.map((o) => `<option>${o}</option>`).join("")}</select>`
      : `<input name="${x.name}" type="${x.type || "text"}" placeholder="${esc(x.placeholder || "")}" aria-describedby="${id}-${x.name}-err">`}
      <span class="err" id="${id}-${x.name}-err"></span></label>`).join("")}
      <div class="actions"><button type="submit">Save</button><button type="reset" class="secondary">Clear</button>
      <p class="msg" role="status" aria-live="polite"></p></div></form>`;
  }
  function fieldErrors(form, detail) {
    form.querySelectorAll(".err").forEach((e) => { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const unplaced = [];
    for (const d of Array.isArray(detail) ? detail : []) {
      const input = form.querySelector(`[name="${d.field}"]`);
      if (!input) { unplaced.push(`${d.field}: ${d.reason}`); continue; }
      input.setAttribute("aria-invalid", "true");
      form.querySelector(`#${input.getAttribute("aria-describedby")}`).textContent = d.reason;
    }
    return unplaced;
  }

  async function renderList(id, panel) {
    const spec = SPEC[id];
    const r = await call(`/api/admin/${id}`);
    const rows = r.ok ? r.data : [];
    const actions = id === "devices" || id === "users";
    panel.querySelector(".list").innerHTML = `<table><caption class="sr-only">${spec.title}</caption><thead><tr>${spec.cols.map((c) => `<th scope="col">${esc(c)}</th>`).join("")}${actions ? "<th>Actions</th>" : ""}</tr></thead>
      <tbody>${rows.map((row) => `<tr data-key="${esc(row[spec.key])}">${spec.cols.map((c) => `<td>${esc(cell(row[c]))}</td>`).join("")}${actions ? `<td>${rowActions(id, row)}</td>` : ""}</tr>`).join("")}</tbody></table>`;
    panel.querySelectorAll("tbody tr").forEach((tr, i) => tr.addEventListener("click", (ev) => {
      if (ev.target.closest("button")) return;
      fill(panel, id, rows[i]);
    }));
    panel.querySelectorAll("[data-act]").forEach((b) => b.addEventListener("click", () => act(id, b.dataset.act, b.dataset.key, panel)));
    return rows;
  }
  function rowActions(id, row) {
    const k = esc(row[SPEC[id].key]);
    if (id === "devices") return `<button data-act="provision" data-key="${k}">Provision</button> <button class="secondary" data-act="revoke" data-key="${k}">Revoke</button>`;
    return `${row.disabled ? `<button data-act="enable" data-key="${k}">Enable</button>` : `<button class="secondary" data-act="disable" data-key="${k}">Disable</button>`} <button class="secondary" data-act="reset-password" data-key="${k}">Reset password</button>`;
  }
  async function act(id, action, key, panel) {
    const path = id === "devices" ? `/api/admin/devices/${encodeURIComponent(key)}/${action}` : `/api/admin/users/${encodeURIComponent(key)}/${action}`;
    const r = await call(path, { method: "POST" });
    if (!r.ok) { say(panel, typeof r.data?.detail === "string" ? r.data.detail : `HTTP ${r.status}`); return; }
    if (action === "provision") showSecret(`Device ${key}: user name ${r.data.username}, password ${r.data.password} (shown once; broker ${r.data.mqtt_url})`);
    else if (action === "reset-password") showSecret(`New password for ${key}: ${r.data.password} (shown once)`);
    else say(panel, `${key}: ${action} done`, true);
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
        if (r.ok && r.data.password) showSecret(`First password for ${body.username}: ${r.data.password} (shown once)`);
      } else {
        const key = body[SPEC[id].key] || "";
        if (!key) { fieldErrors(form, [{ field: SPEC[id].key, reason: "required" }]); return; }
        r = await call(`/api/admin/${id}/${encodeURIComponent(key)}`, { method: "PUT", body });
      }
      const rest = fieldErrors(form, r.ok ? [] : r.data?.detail);
      if (!r.ok) { say(panel, rest.length ? rest.join("; ") : typeof r.data?.detail === "string" ? r.data.detail : "Please correct the marked fields.", false); return; }
      say(panel, `${r.data.result ? r.data.result[0].toUpperCase() + r.data.result.slice(1) : "Saved"}: ${body[SPEC[id].key]}`, true);
      renderList(id, panel);
    });
  }

  function calendarHtml() {
    const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    return `<section class="card" aria-labelledby="cal-h"><h2 id="cal-h">Calendar</h2>
      <form class="form" data-cal="pattern"><label><span>Technician code</span><input name="code" required></label>
        <div class="days" role="group" aria-label="Working days">${days.map((d, i) => `<label><input type="checkbox" name="day" value="${i + 1}" ${i < 5 ? "checked" : ""}>${d}</label>`).join("")}</div>
        <label><span>From</span><input name="start" type="time" value="08:00"></label><label><span>To</span><input name="end" type="time" value="17:00"></label>
        <label><span>Break at</span><input name="break_start" type="time" value="12:00"></label><label><span>Break minutes</span><input name="break_minutes" type="number" value="30"></label>
        <div class="actions"><button type="submit">Save working pattern</button><p class="msg" role="status" aria-live="polite"></p></div></form>
      <form class="form" data-cal="absence"><label><span>Technician code</span><input name="code" required></label>
        <label><span>Kind</span><select name="kind"><option>holiday</option><option>sick</option><option>training</option><option>absence</option></select></label>
        <label><span>From</span><input name="starts_at" type="datetime-local" required></label><label><span>Until</span><input name="ends_at" type="datetime-local" required></label>
        <label><span>Note</span><input name="note"></label>
        <div class="actions"><button type="submit">Add absence</button><p class="msg" role="status" aria-live="polite"></p></div></form></section>`;
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
      msg.textContent = r.ok ? "Saved: the optimiser re-plans with it." : Array.isArray(r.data?.detail) ? r.data.detail.map((x) => `${x.field}: ${x.reason}`).join("; ") : r.data?.detail || `HTTP ${r.status}`;
      renderList("technicians", panel);
    }));
  }

  function importHtml() {
    return `<section class="card" aria-labelledby="imp-h"><h2 id="imp-h">Import CSV files</h2>
      <p class="muted">customers.csv, sites.csv, assets.csv, technicians.csv, contracts.csv (UTF-8, header first). All or nothing: any error and nothing is written.</p>
      <form class="form" id="import-form"><label><span>Files</span><input type="file" name="files" accept=".csv,text/csv" multiple required></label>
        <label class="row"><span>Dry run</span><input type="checkbox" name="dry_run"></label>
        <div class="actions"><button type="submit">Import</button><p class="msg" role="status" aria-live="polite"></p></div></form>
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
      say(panel, r.ok ? `${dry ? "Dry run: would be " : ""}created ${counts("created")}; updated ${counts("updated")}; unchanged ${counts("unchanged")}` : `${(rep.errors || []).length} error(s): nothing was written.`, r.ok);
      out.innerHTML = (rep.errors || []).length ? `<table><caption>Errors</caption><thead><tr><th>File</th><th>Line</th><th>Column</th><th>Problem</th></tr></thead><tbody>${rep.errors.map((e) => `<tr><td>${esc(e.file)}</td><td>${e.line}</td><td>${esc(e.column)}</td><td>${esc(e.message)}</td></tr>`).join("")}</tbody></table>` : "";
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
    document.getElementById("tabs").innerHTML = ids.map((id) => `<button role="tab" data-tab="${id}" aria-controls="panel-${id}">${id === "import" ? "Import" : SPEC[id].title}</button>`).join("");
    document.getElementById("panels").innerHTML = ids.map((id) => `<section class="panel" role="tabpanel" id="panel-${id}" data-panel="${id}" aria-label="${id}" hidden>
      ${id === "import" ? importHtml() : `${SPEC[id].fields.length && me.role === "admin" ? `<section class="card"><h2>${SPEC[id].title}: add or change</h2>${formHtml(id, SPEC[id].fields)}</section>` : `<p class="msg" role="status"></p>`}
      ${id === "technicians" ? calendarHtml() : ""}<section class="card list"></section>`}</section>`).join("");
    for (const id of ids) {
      const panel = document.querySelector(`[data-panel="${id}"]`);
      if (id === "import") bindImport(panel); else bindForm(id, panel);
      if (id === "technicians") bindCalendar(panel);
    }
    document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
    show(ids.includes(location.hash.slice(1)) ? location.hash.slice(1) : ids[0]);
  }
  QF.start(document.getElementById("login"), ["admin", "dispatcher"], (who) => {
    me = who; document.getElementById("app").hidden = false; build();
  });
})();
