// Service KPI page: GET /api/kpis per day and slice, one Chart.js trend per KPI, the table, CSV download.
"use strict";
(() => {
  const { api, start, esc } = QF;
  // Each KPI once, labelled for what it measures (definitions: docs/kpis.md); `pct` = a rate shown in percent.
  const KPIS = [
    ["onsite_2h_rate", (p) => QF.t("kpis.kpi.onsite2h", { hours: p.onsite_min / 60 }), true],
    ["onsite_contract_rate", () => QF.t("kpis.kpi.onsiteContract"), true],
    ["response_15min_rate", (p) => QF.t("kpis.kpi.response", { min: p.response_min }), true],
    ["repair_24h_rate", (p) => QF.t("kpis.kpi.repair", { hours: p.repair_h }), true],
    ["first_visit_fix_rate", () => QF.t("kpis.kpi.ftf"), true],
    ["parts_at_first_visit_rate", () => QF.t("kpis.kpi.parts"), true],
    ["remote_fix_rate", () => QF.t("kpis.kpi.remote"), true],
    ["nps", () => QF.t("kpis.kpi.nps"), false],
    ["idle_while_waiting_min_per_technician", () => QF.t("kpis.kpi.idle"), false],
    ["p90_time_to_site_min", () => QF.t("kpis.kpi.p90"), false],
  ];
  const charts = [];
  let last = null;
  const fmt = (v, pct) => v == null ? "–" : pct ? I18N.percent(v, 1) : I18N.number(Math.round(v * 10) / 10);
  const sliceName = (r, by) => by === "region" ? r.region : by === "tier" ? QF.label("common.tier", r.tier) : by === "customer" ? QF.t("kpis.slice.customer", { id: r.customer_id }) : QF.t("kpis.slice.all");

  function draw(data) {
    last = data;
    const p = data.promise, by = data.by;
    document.getElementById("promise").textContent = QF.t("kpis.promise", { response: p.response_min, onsite: p.onsite_min / 60, repair: p.repair_h });
    document.getElementById("trend-h").textContent = QF.t("kpis.perDay", { zone: data.timezone });  // the organisation's days
    document.getElementById("summary").innerHTML = KPIS.map(([k, label, pct]) =>
      `<div class="kpi" data-kpi="${k}"><b>${fmt(data.summary[k], pct)}</b><span>${esc(label(p))}</span></div>`).join("");
    const days = [];  // every day of the window, also those without data in a slice
    for (let d = new Date(data.summary.from); d.toISOString().slice(0, 10) <= String(data.now).slice(0, 10); d.setUTCDate(d.getUTCDate() + 1)) days.push(d.toISOString().slice(0, 10));
    const slices = [...new Set(data.rows.map((r) => sliceName(r, by)))];
    charts.splice(0).forEach((c) => c.destroy());
    const root = document.getElementById("charts");
    root.innerHTML = KPIS.map(([k, label]) => `<figure class="chart" data-kpi="${k}"><h3>${esc(label(p))}</h3>
      <div class="canvas-box"><canvas role="img" aria-label="${esc(QF.t("kpis.chart.label", { kpi: label(p) }))}"></canvas></div></figure>`).join("");
    if (window.Chart) {
      KPIS.forEach(([k, , pct], i) => {
        const datasets = slices.map((s) => ({ label: s, spanGaps: true, tension: 0.2, data: days.map((d) => {
          const r = data.rows.find((x) => x.day === d && sliceName(x, by) === s);
          const v = r ? r[k] : null;
          return v == null ? null : pct ? Math.round(v * 1000) / 10 : Math.round(v * 10) / 10;
        }) }));
        charts.push(new Chart(root.querySelectorAll("canvas")[i], { type: "line", data: { labels: days.map((d) => d.slice(5)), datasets },
          options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: slices.length > 1 } },
            scales: { y: pct ? { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } : { beginAtZero: true } } } }));
      });
    } else {
      document.getElementById("msg").textContent = QF.t("kpis.chart.unavailable");
    }
    const head = `<tr><th scope="col">${esc(QF.t("kpis.table.day"))}</th><th scope="col">${esc(QF.t("kpis.table.slice"))}</th><th scope="col">${esc(QF.t("kpis.table.incidents"))}</th>${KPIS.map(([, label]) => `<th scope="col">${esc(label(p))}</th>`).join("")}</tr>`;
    document.getElementById("table").innerHTML = head + data.rows.map((r) =>
      `<tr><td>${r.day}</td><td>${esc(sliceName(r, by))}</td><td>${I18N.number(r.incidents)}</td>${KPIS.map(([k, , pct]) => `<td data-kpi="${k}">${fmt(r[k], pct)}</td>`).join("")}</tr>`).join("");
  }

  function params() {
    const form = document.getElementById("controls");  // .value, not FormData: a disabled select still counts
    return new URLSearchParams({ days: form.days.value, by: form.by.value });
  }
  async function load() {
    try { draw(await api(`/api/kpis?${params()}`)); document.getElementById("msg").textContent = ""; }
    catch (e) { document.getElementById("msg").textContent = QF.t("kpis.loadFailed", { error: e.message }); }
  }
  async function downloadCsv() {
    const r = await fetch(`/api/kpis.csv?${params()}`, { headers: { Authorization: `Bearer ${localStorage.getItem("qf-token")}` } });
    if (!r.ok) { document.getElementById("msg").textContent = QF.t("kpis.csvFailed", { status: r.status }); return; }
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = (r.headers.get("content-disposition") || "").match(/filename="([^"]+)"/)?.[1] || "kpis.csv";
    document.body.append(a); a.click(); a.remove();
  }

  start(document.getElementById("login"), ["admin", "dispatcher", "customer"], (me) => {
    document.getElementById("app").hidden = false;
    if (me.role === "customer") {  // a customer's slice is always their own (the server enforces it too)
      const by = document.querySelector("select[name=by]");
      by.value = "customer"; by.disabled = true;
    }
    document.getElementById("controls").addEventListener("change", load);
    document.getElementById("csv").addEventListener("click", downloadCsv);
    load();
  });
})();
