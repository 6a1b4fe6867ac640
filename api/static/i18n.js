// quietfix languages in the browser: the catalogue of the viewer's language (/i18n/<locale>.json, the same ICU
// MessageFormat files the server renders e-mails from), t(), and dates/numbers with Intl in the viewer's zone.
// Load this before qf.js. Static text in HTML carries a data-i18n attribute naming the key (textContent) or
// data-i18n-attr (placeholder:KEY;aria-label:KEY); I18N.apply(root) fills them in.
"use strict";
const I18N = (() => {
  const SUPPORTED = ["en", "zh-CN"];
  const LANG_KEY = "qf-lang";
  let lang = "en", zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  let messages = {}, fallback = {};
  const parsed = new Map();
  // zh, zh-Hans, zh_CN all mean zh-CN; anything else we do not have means English.
  function negotiate(...wanted) {
    for (const w of wanted.flat()) {
      if (!w) continue;
      const tag = String(w).replace("_", "-").toLowerCase();
      if (tag.startsWith("zh")) return "zh-CN";
      if (tag.startsWith("en")) return "en";
    }
    return "en";
  }
  // The language before sign-in: the one chosen on this device, else the browser's.
  const preferred = () => negotiate(localStorage.getItem(LANG_KEY), navigator.languages || [navigator.language]);
  async function fetchCatalogue(l) {
    const r = await fetch(`/i18n/${l}.json`, { cache: "no-cache" });
    if (!r.ok) throw new Error(`catalogue ${l}: HTTP ${r.status}`);
    return r.json();
  }
  async function load(l = preferred()) {
    l = negotiate(l);
    const [m, f] = await Promise.all([fetchCatalogue(l), l === "en" ? null : fetchCatalogue("en")]);
    messages = m; fallback = f || m; lang = l; parsed.clear();
    document.documentElement.lang = l;
    apply(document);
    return l;
  }
  // --- ICU MessageFormat subset (the same one i18n/message.py reads; tests keep both in step) ---
  function parse(text) {
    let i = 0;
    function parts(inPlural) {
      const out = []; let buf = "";
      const flush = () => { if (buf) { out.push(buf); buf = ""; } };
      while (i < text.length) {
        const c = text[i];
        if (c === "'") {
          if (text[i + 1] === "'") { buf += "'"; i += 2; continue; }
          if ("{}#".includes(text[i + 1] || "x")) { const j = text.indexOf("'", i + 1); buf += text.slice(i + 1, j); i = j + 1; continue; }
          buf += c; i++;
        } else if (c === "}") break;
        else if (c === "#" && inPlural) { flush(); out.push({ name: "#", kind: "#" }); i++; }
        else if (c === "{") { flush(); i++; out.push(arg()); }
        else { buf += c; i++; }
      }
      flush(); return out;
    }
    function arg() {
      const end = text.indexOf("}", i), comma = text.indexOf(",", i);
      if (comma < 0 || comma > end) { const name = text.slice(i, end).trim(); i = end + 1; return { name, kind: "" }; }
      const name = text.slice(i, comma).trim();
      const j = text.indexOf(",", comma + 1);
      const kind = text.slice(comma + 1, j >= 0 && j < end ? j : end).trim();
      if (["number", "time", "date", "datetime"].includes(kind)) { i = end + 1; return { name, kind }; }
      const options = {}; i = j + 1;
      for (;;) {
        while (/\s/.test(text[i])) i++;
        if (text[i] === "}") break;
        const k = text.indexOf("{", i); const sel = text.slice(i, k).trim(); i = k + 1;
        options[sel] = parts(kind === "plural"); i++;
      }
      i++; return { name, kind, options };
    }
    return parts(false);
  }
  function render(ps, params, n) {
    return ps.map((p) => {
      if (typeof p === "string") return p;
      if (p.kind === "#") return number(n);
      const v = params[p.name];
      switch (p.kind) {
        case "": return v !== null && typeof v === "object" && "key" in v ? nested(v) : v ?? "";
        case "number": return number(v);
        case "time": return time(v);
        case "date": return date(v);
        case "datetime": return datetime(v);
        case "plural": {
          const x = Number(v) || 0;
          const body = p.options[`=${x}`] || p.options[new Intl.PluralRules(lang).select(x)] || p.options.other;
          return render(body, params, x);
        }
        default: return render(p.options[String(v)] || p.options.other, params, n);
      }
    }).join("");
  }
  // The message `key` with `params`; English when the viewer's catalogue lacks it; the key itself (which the
  // completeness tests look for on every page) only when no catalogue has it.
  function t(key, params = {}) {
    const text = messages[key] ?? fallback[key];
    if (text === undefined) { console.warn("i18n: no message", key); return key; }
    let ps = parsed.get(key);
    if (!ps) { ps = parse(text); parsed.set(key, ps); }
    return render(ps, params);
  }
  function has(key) { return key in messages || key in fallback; }
  // A parameter that is itself a message ({key, params, text}: a fault's name inside a summary), in the same
  // language; its text (or the key) when no catalogue has it. Same rule as i18n/message.py.
  function nested(v) { return has(v.key) ? t(v.key, v.params || {}) : String(v.text ?? v.key); }
  // A stored message (a timeline event's or an incident's summary, migration 0821) in the viewer's language;
  // `text` (what the server wrote, English) for rows without one or with a key this page does not know.
  function message(m, text) { return m && m.key && has(m.key) ? t(m.key, m.params || {}) : text ?? ""; }
  // --- dates and numbers: Intl, in the viewer's zone, always naming the zone ---
  const cache = new Map();
  function fmt(kind, opts) {
    const k = `${lang}|${zone}|${kind}`;
    if (!cache.has(k)) cache.set(k, new Intl.DateTimeFormat(lang, { timeZone: zone, hourCycle: "h23", ...opts }));
    return cache.get(k);
  }
  const valid = (v) => v !== null && v !== undefined && v !== "" && !Number.isNaN(new Date(v).getTime());
  function time(v) { return valid(v) ? fmt("time", { hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(v)) : "–"; }
  function datetime(v) {
    return valid(v) ? fmt("datetime", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(v)) : "–";
  }
  function date(v) { return valid(v) ? fmt("date", { year: "numeric", month: "short", day: "numeric" }).format(new Date(v)) : "–"; }
  function number(v, decimals) {
    if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
    const o = decimals === undefined ? {} : { minimumFractionDigits: decimals, maximumFractionDigits: decimals };
    return new Intl.NumberFormat(lang, o).format(Number(v));
  }
  function percent(v, decimals = 0) { // a share (0.875) as a percentage, up to `decimals` fraction digits
    if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
    return new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: decimals }).format(Number(v));
  }
  // Fills data-i18n / data-i18n-attr elements under root, and the language switches (data-lang-switch).
  function apply(root = document) {
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-attr]").forEach((el) => {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":").map((s) => s.trim());
        if (attr && key) el.setAttribute(attr, t(key));
      }
    });
    root.querySelectorAll("[data-lang-switch]").forEach(switcher);
    if (root === document && messages["common.product"]) {
      const title = document.querySelector("title[data-i18n]");
      if (title) document.title = t(title.dataset.i18n);
    }
  }
  let onSwitch = null; // set by qf.js: saves the choice to the signed-in user's profile
  function switcher(el) {
    if (el.querySelector("select")) { el.querySelector("select").value = lang; return; }
    const sel = document.createElement("select");
    sel.setAttribute("aria-label", t("common.language"));
    for (const l of SUPPORTED) { const o = document.createElement("option"); o.value = l; o.textContent = t(`common.language.${l}`); sel.append(o); }
    sel.value = lang;
    sel.addEventListener("change", async () => {
      localStorage.setItem(LANG_KEY, sel.value);
      if (onSwitch) { try { await onSwitch(sel.value); } catch (e) { /* offline: the device keeps the choice */ } }
      location.reload();
    });
    el.replaceChildren(sel);
  }
  return {
    SUPPORTED, load, t, has, message, time, datetime, date, number, percent, apply, negotiate, preferred,
    get lang() { return lang; }, get zone() { return zone; },
    setZone(z) { if (z) { try { new Intl.DateTimeFormat("en", { timeZone: z }); zone = z; cache.clear(); } catch (e) { /* unknown zone: keep the browser's */ } } },
    remember(l) { localStorage.setItem(LANG_KEY, negotiate(l)); },
    set onSwitch(fn) { onSwitch = fn; },
  };
})();
