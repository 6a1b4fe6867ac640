// quietfix shared client: sign-in, authenticated fetch, live updates (SSE read with fetch), formatting.
// Words and formats come from i18n.js (I18N, loaded first): t() for text, hm() for a time in the viewer's zone.
"use strict";
const QF = (() => {
  const KEY = "qf-token";
  const HOME = { admin: "/board", dispatcher: "/board", technician: "/tech", customer: "/portal", support: "/planning",
    engineering: "/planning" };
  let token = localStorage.getItem(KEY);
  let skew = 0; // server clock minus browser clock, ms (the demo's server may run on simulated time)
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const t = I18N.t;
  const hm = (v) => I18N.time(v); // "14:05 GMT+8": the viewer's zone, always named
  // A stored code shown to people (a status, a state, a tier): its catalogue name under `prefix`, else as stored.
  const label = (prefix, v) => (v == null ? "" : I18N.has(`${prefix}.${v}`) ? t(`${prefix}.${v}`) : String(v));
  let catalogue = null; // the viewer's catalogue, loaded once per page before anything is drawn
  const now = () => Date.now() + skew;
  function setServerNow(iso) { if (iso) skew = Date.parse(iso) - Date.now(); }
  function countdown(due) {
    const s = Math.round((Date.parse(due) - now()) / 1000), a = Math.abs(s);
    const txt = `${Math.floor(a / 3600) ? Math.floor(a / 3600) + "h " : ""}${String(Math.floor(a / 60) % 60).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
    return { s, text: s < 0 ? t("common.late", { time: txt }) : txt, cls: s < 0 ? "late" : s < 600 ? "risk" : "ok" };
  }
  // An error's words: a string detail, a conflict's {reason}, or a 422's [{field, reason, i18n}] / FastAPI
  // [{loc, msg}]; a reason that comes as a catalogue message (i18n, the admin API's) in the viewer's language.
  // A fixed string detail is looked up as "apiError.<the English text>" (tests/i18n keeps every literal detail of
  // api/ in the catalogues); one built at run time (an exception's text) stays as the server wrote it.
  function detailText(d) {
    if (typeof d === "string") return I18N.message({ key: `apiError.${d}` }, d);
    if (d && typeof d.reason === "string") return d.reason;
    if (Array.isArray(d)) return d.map((e) => `${e.field ?? (e.loc || []).slice(-1)[0] ?? ""}: ${I18N.message(e.i18n, e.reason ?? e.msg ?? "")}`).join("; ");
    return "";
  }
  class HttpError extends Error { constructor(status, detail) { super(detail); this.status = status; } }
  async function api(path, { method = "GET", body } = {}) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    // Snapshot reads (board, KPIs, plan, routes) carry an ETag and `no-cache`: the browser revalidates them with
    // If-None-Match and hands back its cached body on a 304, so server time comes from the fresh header.
    if (r.headers.has("X-Server-Now")) setServerNow(r.headers.get("X-Server-Now"));
    if (r.status === 401) { logout(false); throw new HttpError(401, "signed out"); }
    const data = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
    if (!r.ok) throw new HttpError(r.status, detailText(data?.detail) || `HTTP ${r.status}`);
    return data;
  }
  // An explicit sign-out also forgets this phone's cached jobs and unsent actions (after asking); an expired
  // token does not, so a technician signs in again and the queued actions still go out.
  function logout(reload = true) {
    if (reload) {
      const pending = JSON.parse(localStorage.getItem("qf-tech-queue") || "[]").length;
      if (pending && !confirm(t("common.logout.pendingConfirm", { count: pending }))) return;
      ["qf-me", "qf-tech-jobs", "qf-tech-queue", "qf-tech-escalations"].forEach((k) => localStorage.removeItem(k));
    }
    token = null; localStorage.removeItem(KEY);
    if (reload) location.reload();
  }
  function loginForm(root, roles, onReady) {
    root.innerHTML = `<section class="login card" aria-labelledby="login-h"><h2 id="login-h">${esc(t("auth.signIn.title"))}</h2>
      <form id="login-form"><label><span>${esc(t("auth.signIn.username"))}</span><input name="username" autocomplete="username" required></label>
      <label><span>${esc(t("auth.signIn.password"))}</span><input name="password" type="password" autocomplete="current-password" required></label>
      <button type="submit">${esc(t("auth.signIn.submit"))}</button><p class="msg" role="alert" id="login-msg"></p>
      <p class="lang-row"><span data-lang-switch></span></p></form></section>`;
    I18N.apply(root);
    root.querySelector("#login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const r = await fetch("/api/auth/token", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: f.get("username"), password: f.get("password") }) });
      if (!r.ok) { root.querySelector("#login-msg").textContent = t("auth.signIn.wrong"); return; }
      const t = await r.json();
      token = t.access_token; localStorage.setItem(KEY, token);
      if (roles && !roles.includes(t.role)) { location.href = HOME[t.role] || "/"; return; }
      start(root, roles, onReady);
    });
    root.querySelector("input[name=username]").focus();
  }
  // Shows the sign-in form until a user with one of `roles` is signed in, then calls onReady(me).
  async function start(root, roles, onReady) {
    if (!catalogue) catalogue = I18N.load().catch(() => "en"); // offline without a cached catalogue: English keys' fallback
    await catalogue;
    if (!token) return loginForm(root, roles, onReady);
    let me;
    try { me = await api("/api/auth/me"); } catch (e) {
      if (e.status === 401 || e.status === 403) return loginForm(root, roles, onReady);
      me = JSON.parse(localStorage.getItem("qf-me") || "null"); // offline: trust the last identity
      if (!me) return loginForm(root, roles, onReady);
    }
    localStorage.setItem("qf-me", JSON.stringify(me));
    // The signed-in person's language and zone (their own, else their customer's or technician's record; the
    // API resolves it) win over the device's; with neither, the browser's language and zone stay.
    I18N.setZone(me.timezone);
    if (me.language && I18N.negotiate(me.language) !== I18N.lang) {
      I18N.remember(me.language);
      try { await I18N.load(me.language); } catch (e) { /* keep the loaded one */ }
    }
    I18N.onSwitch = (language) => api("/api/auth/me", { method: "PATCH", body: { language } });
    root.replaceChildren();
    if (roles && !roles.includes(me.role)) { location.href = HOME[me.role] || "/"; return; }
    document.querySelectorAll("[data-who]").forEach((el) => { el.textContent = `${me.username} (${t(`common.role.${me.role}`)})`; });
    document.querySelectorAll("[data-logout]").forEach((el) => { el.hidden = false; el.onclick = () => logout(); });
    onReady(me);
  }
  // Live updates: reads /api/live with the bearer header (EventSource cannot send one) and calls onChange,
  // debounced, whenever the server's change cursor moved; reconnects with back-off when the stream ends.
  function live(onChange, onState = () => {}) {
    let timer = null, backoff = 1000;
    const fire = () => { clearTimeout(timer); timer = setTimeout(onChange, 150); };
    async function connect() {
      try {
        const r = await fetch("/api/live", { headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" } });
        if (!r.ok || !r.body) throw new Error(`live ${r.status}`);
        onState(true); backoff = 1000;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i); buf = buf.slice(i + 2);
            if (/^event: change$/m.test(block)) fire();
          }
        }
      } catch (e) { /* offline or server restarting: retry below */ }
      onState(false);
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 30000);
    }
    connect();
  }
  return { api, start, live, esc, hm, t, label, countdown, now, setServerNow, logout, HttpError, detailText };
})();
