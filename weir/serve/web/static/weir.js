/* weir's web app: charts from the JSON blocks beside them, sortable tables, filters that
   apply on change, and fetch calls that carry the session's CSRF token. No inline script:
   the Content-Security-Policy allows only files served by weir. */
"use strict";

const weir = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  // a colour-blind-safe palette (Okabe-Ito), the same name keeping the same colour
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"];
  const colours = new Map();
  const colourOf = (name) => {
    if (!colours.has(name)) colours.set(name, PALETTE[colours.size % PALETTE.length]);
    return colours.get(name);
  };
  const SYMBOLS = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", INR: "₹" };

  function format(value, kind, currency) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    const n = Number(value);
    const num = (x, d) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    switch (kind) {
      case "currency": return (n < 0 ? "-" : "") + (SYMBOLS[currency] || currency + " ") + num(Math.abs(n), 2);
      case "share": return num(n * 100, 1) + " %";
      case "percent": return num(n, 1) + " %";
      case "count": return num(Math.round(n), 0);
      case "hours": return num(n, 1) + " h";
      case "seconds": return num(n, 0) + " s";
      case "days": return num(n, 1) + " days";
      default: return Math.abs(n) < 1000 ? num(n, 2) : num(n, 0);
    }
  }

  /** fetch with the session's CSRF token on every state-changing request */
  function send(url, options = {}) {
    const headers = new Headers(options.headers || {});
    headers.set("X-CSRF-Token", csrf());
    return fetch(url, { credentials: "same-origin", ...options, headers });
  }

  function axisFormatter(spec) {
    return (v) => format(v, spec.format === "currency" ? "count" : spec.format, spec.currency);
  }

  function lineOption(spec) {
    // a time axis: each period at its first day, and flagged days as bands of their own
    const points = (values) => spec.periods.map((p, i) => [p, values[i]]);
    const series = spec.series.map((s) => ({
      name: s.name, type: "line", data: points(s.values), showSymbol: spec.periods.length < 40,
      itemStyle: { color: colourOf(s.name) }, lineStyle: { color: colourOf(s.name) },
    }));
    if (spec.previous) {
      series.push({ name: "previous period", type: "line", data: points(spec.previous), showSymbol: false,
        lineStyle: { type: "dashed", color: "#777" }, itemStyle: { color: "#777" } });
    }
    if (spec.flags && spec.flags.length && series.length) {
      series[0].markArea = {
        silent: false,
        itemStyle: { color: "rgba(213, 94, 0, 0.18)" },
        label: { show: false },
        tooltip: { trigger: "item", formatter: (p) => "Flagged " + p.data.reason },
        data: spec.flags.map((f) => [{ xAxis: f.start, reason: f.reason }, { xAxis: f.end }]),
      };
    }
    return {
      tooltip: { trigger: "axis", valueFormatter: (v) => format(v, spec.format, spec.currency) },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 64, right: 24, top: 16, bottom: 48 },
      xAxis: { type: "time", name: spec.grain, min: spec.start, max: spec.end },
      yAxis: { type: "value", axisLabel: { formatter: axisFormatter(spec) } },
      series,
    };
  }

  function barOption(spec) {
    const series = [{ name: "this period", type: "bar", data: spec.values, itemStyle: { color: (p) => colourOf(p.name) } }];
    if (spec.previous) series.push({ name: "previous period", type: "bar", data: spec.previous, itemStyle: { color: "#bbb" } });
    return {
      tooltip: { trigger: "axis", valueFormatter: (v) => format(v, spec.format, spec.currency) },
      legend: { bottom: 0 },
      grid: { left: 64, right: 16, top: 16, bottom: 72 },
      xAxis: { type: "category", data: spec.categories, axisLabel: { rotate: spec.categories.length > 8 ? 40 : 0 } },
      yAxis: { type: "value", min: 0, axisLabel: { formatter: axisFormatter(spec) } },
      series,
    };
  }

  function funnelOption(spec) {
    return {
      tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${format(p.value, "count")}` },
      series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "10%",
        label: { formatter: (p) => `${p.name}: ${format(p.value, "count")}` },
        data: spec.steps.map((s, i) => ({ name: s.name, value: s.value, itemStyle: { color: PALETTE[i % PALETTE.length] } })) }],
    };
  }

  const drawn = new Set();  // the charts on the page, resized with the window
  window.addEventListener("resize", () => drawn.forEach((chart) => {
    if (chart.getDom().isConnected) chart.resize();
    else { chart.dispose(); drawn.delete(chart); }  // replaced by a live page's new numbers
  }));

  function drawCharts(root) {
    if (typeof echarts === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach((el) => {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "true";
      const spec = JSON.parse(document.getElementById(el.dataset.chart + "-data").textContent);
      const chart = echarts.init(el, null, { renderer: "svg" });
      const option = spec.kind === "line" ? lineOption(spec) : spec.kind === "bar" ? barOption(spec) : funnelOption(spec);
      chart.setOption({ animation: false, ...option });
      if (spec.links) {
        el.classList.add("drillable");
        chart.on("click", (p) => { if (spec.links[p.dataIndex]) window.location.assign(spec.links[p.dataIndex]); });
      }
      drawn.add(chart);
    });
  }

  function drawSparks(root) {
    root.querySelectorAll("[data-spark]").forEach((el) => {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "true";
      const values = JSON.parse(el.dataset.spark).map((v) => (v === null ? NaN : Number(v)));
      const known = values.filter((v) => !Number.isNaN(v));
      if (known.length < 2) return;
      const lo = Math.min(...known), hi = Math.max(...known), w = 120, h = 28;
      const x = (i) => (i * w) / (values.length - 1);
      const y = (v) => (hi === lo ? h / 2 : h - ((v - lo) * (h - 4)) / (hi - lo) - 2);
      const points = values.map((v, i) => (Number.isNaN(v) ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("aria-hidden", "true");
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", points.join(" "));
      line.setAttribute("class", "sparkline");
      // drawn by attributes too, so that a picture of the page (Download PNG) has it
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", PALETTE[0]);
      line.setAttribute("stroke-width", "1.5");
      svg.appendChild(line);
      el.appendChild(svg);
    });
  }

  function sortableTables(root) {
    root.querySelectorAll("table.sortable").forEach((table) => {
      if (table.dataset.sortable) return;
      table.dataset.sortable = "true";
      table.querySelectorAll("th button.sort").forEach((button, column) => {
        button.addEventListener("click", () => {
          const body = table.tBodies[0];
          const ascending = button.dataset.order !== "asc";
          table.querySelectorAll("th button.sort").forEach((b) => { delete b.dataset.order; b.parentElement.removeAttribute("aria-sort"); });
          button.dataset.order = ascending ? "asc" : "desc";
          button.parentElement.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          const key = (row) => {
            const cell = row.cells[column];
            if (!cell) return "";
            return cell.dataset.sort !== undefined ? Number(cell.dataset.sort) : cell.textContent;
          };
          const rows = Array.from(body.rows).sort((a, b) => {
            const ka = key(a), kb = key(b);
            const order = typeof ka === "number" && typeof kb === "number" ? ka - kb : String(ka).localeCompare(String(kb));
            return ascending ? order : -order;
          });
          rows.forEach((r) => body.appendChild(r));
        });
      });
    });
  }

  function filtersApplyOnChange() {
    document.querySelectorAll("form.filters select").forEach((select) => {
      select.addEventListener("change", () => select.form.requestSubmit());
    });
  }

  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => { if (!window.confirm(form.dataset.confirm)) event.preventDefault(); });
    });
  }

  /** the explain panel: focused when htmx brings it, emptied by its Close link */
  function explainPanel() {
    const target = document.getElementById("explain");
    if (!target) return;
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target !== target) return;
      target.querySelector("#explain-panel")?.focus({ preventScroll: true });
      target.dataset.loaded = "true";
    });
    target.addEventListener("click", (event) => {
      const close = event.target.closest("[data-close-explain]");
      if (!close) return;
      event.preventDefault();
      target.replaceChildren();
      delete target.dataset.loaded;
    });
  }

  /** save a data URL as a file */
  function download(url, filename) {
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  /** a chart as PNG: ECharts' own getDataURL (SVG, as the chart is drawn), onto a canvas */
  function chartPng(id, filename) {
    const chart = Array.from(drawn).find((c) => c.getDom().dataset.chart === id);
    if (!chart) return;
    const ratio = 2;
    const width = chart.getWidth(), height = chart.getHeight();
    const image = new Image();
    image.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = width * ratio;
      canvas.height = height * ratio;
      const context = canvas.getContext("2d");
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      download(canvas.toDataURL("image/png"), filename);
    };
    image.src = chart.getDataURL({ type: "svg", backgroundColor: "#fff" });
  }

  /** the whole dashboard as PNG (html-to-image, vendored), without its buttons and links */
  function boardPng(button) {
    if (typeof htmlToImage === "undefined") return;
    const main = document.getElementById("main");
    button.disabled = true;
    htmlToImage.toPng(main, {
      backgroundColor: "#f6f7f9",
      pixelRatio: 1,
      filter: (node) => !(node.classList && node.classList.contains("noprint")),
    }).then((url) => download(url, button.dataset.boardPng))
      .catch(() => window.alert("The picture could not be made: use Print / PDF instead."))
      .finally(() => { button.disabled = false; });
  }

  function exports() {
    document.addEventListener("click", (event) => {
      const target = event.target instanceof Element ? event.target : null;
      if (!target) return;
      if (target.closest("[data-print]")) window.print();
      const chart = target.closest("[data-chart-png]");
      if (chart) chartPng(chart.dataset.chartPng, chart.dataset.filename);
      const board = target.closest("[data-board-png]");
      if (board) boardPng(board);
    });
  }

  /** a live dashboard: what htmx brings is drawn; "updated N s ago" counts from the last change */
  function liveDashboard() {
    let updated = Date.now();
    document.body.addEventListener("htmx:load", (event) => {
      const root = event.target;
      if (!(root instanceof Element)) return;
      drawSparks(root);
      drawCharts(root);
      sortableTables(root);
      if (root.id === "board-tiles") updated = Date.now();
    });
    const ago = () => {
      const label = document.querySelector("#live [data-updated]");
      if (!label) return;
      const seconds = Math.round((Date.now() - updated) / 1000);
      label.textContent = seconds < 2 ? "updated just now" : `updated ${seconds} s ago`;
    };
    window.setInterval(ago, 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    explainPanel();
    liveDashboard();
    exports();
    drawSparks(document);
    drawCharts(document);
    sortableTables(document);
    filtersApplyOnChange();
    confirmForms();
    document.body.dataset.ready = "true";
  });

  return { send, format, csrf };
})();
