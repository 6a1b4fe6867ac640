// Service KPI page: GET /api/kpis per day and slice, one Chart.js trend per KPI, the table, CSV download.
"use strict";
(() => {
  const { api, start, esc } = QF;
  // Each KPI once, labelled for what it measures (definitions: docs/kpis.md); `pct` = a rate shown in percent.
  const KPIS = [
    ["onsite_2h_rate", (p) => `On site ≤ ${p.onsite_min / 60} h from incident open (promise)`, true],
    ["onsite_contract_rate", () => "On site by the contract deadline", true],
    ["response_15min_rate", (p) => `Response ≤ ${p.response_min} min (plan/ETA delivered)`, true],
    ["repair_24h_rate", (p) => `Repaired ≤ ${p.repair_h} h (open → verified fixed)`, true],
    ["first_visit_fix_rate", () => "First-time fix", true],
    ["parts_at_first_visit_rate", () => "Parts available at the first visit", true],
    ["remote_fix_rate", () => "Fixed remotely (of resolved incidents)", true],
    ["nps", () => "NPS", false],
    ["idle_while_waiting_min_per_technician", () => "Idle while a job waited (min per technician)", false],
    ["p90_time_to_site_min", () => "Time to site, 90th percentile (min)", false],
  ];
  const charts = [];
  let last = null;
  const fmt = (v, pct) => v == null ? "–" : pct ? `${Math.round(v * 1000) / 10}%` : `${Math.round(v * 10) / 10}`;
  const sliceName = (r, by) => by === "region" ? r.region : by === "tier" ? r.tier : by === "customer" ? `customer ${r.customer_id}` : "all";

  function draw(data) {
    last = data;
    const p = data.promise, by = data.by;
    document.getElementById("promise").textContent = `Promise: respond ${p.response_min} min, on site ${p.onsite_min / 60} h, repaired ${p.repair_h} h`;
    document.getElementById("summary").innerHTML = KPIS.map(([k, label, pct]) =>
      `<div class="kpi" data-kpi="${k}"><b>${fmt(data.summary[k], pct)}</b><span>${esc(label(p))}</span></div>`).join("");
    const days = [];  // every day of the window, also those without data in a slice
    for (let d = new Date(data.summary.from); d.toISOString().slice(0, 10) <= String(data.now).slice(0, 10); d.setUTCDate(d.getUTCDate() + 1)) days.push(d.toISOString().slice(0, 10));
    const slices = [...new Set(data.rows.map((r) => sliceName(r, by)))];
    charts.splice(0).forEach((c) => c.destroy());
    const root = document.getElementById("charts");
    root.innerHTML = KPIS.map(([k, label]) => `<figure class="chart" data-kpi="${k}"><h3>${esc(label(p))}</h3>
      <div class="canvas-box"><canvas role="img" aria-label="${esc(label(p))} per day; values in the table below"></canvas></div></figure>`).join("");
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
      document.getElementById("msg").textContent = "Charts unavailable (chart.js not installed); the table has every value.";
    }
    const head = `<tr><th scope="col">Day</th><th scope="col">Slice</th><th scope="col">Incidents</th>${KPIS.map(([, label]) => `<th scope="col">${esc(label(p))}</th>`).join("")}</tr>`;
    document.getElementById("table").innerHTML = head + data.rows.map((r) =>
      `<tr><td>${r.day}</td><td>${esc(sliceName(r, by))}</td><td>${r.incidents}</td>${KPIS.map(([k, , pct]) => `<td data-kpi="${k}">${fmt(r[k], pct)}</td>`).join("")}</tr>`).join("");
  }

  function params() {
    const form = document.getElementById("controls");  // .value, not FormData: a disabled select still counts
    return new URLSearchParams({ days: form.days.value, by: form.by.value });
  }
  async function load() {
    try { draw(await api(`/api/kpis?${params()}`)); document.getElementById("msg").textContent = ""; }
    catch (e) { document.getElementById("msg").textContent = `Could not load the KPIs: ${e.message}`; }
  }
  async function downloadCsv() {
    const r = await fetch(`/api/kpis.csv?${params()}`, { headers: { Authorization: `Bearer ${localStorage.getItem("qf-token")}` } });
    if (!r.ok) { document.getElementById("msg").textContent = `CSV export failed (HTTP ${r.status})`; return; }
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
