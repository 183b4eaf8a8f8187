"""The report's inline stylesheet and script: no external font, stylesheet or script is ever loaded."""

from __future__ import annotations

CSS = """
:root { --ink:#1f2d3d; --muted:#5f6b7a; --line:#dde3ea; --bg:#f6f8fa; --card:#ffffff; --accent:#2c3e50;
  --price:#d95f02; --service:#1b9e77; --other:#7570b3; --up:#c0392b; --down:#2e86c1; }
* { box-sizing: border-box; }
body { margin:0; font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
  color:var(--ink); background:var(--bg); line-height:1.5; font-size:15px; }
header.top { background:var(--accent); color:#fff; padding:18px 32px 12px; }
header.top h1 { margin:0; font-size:24px; font-weight:650; }
header.top .sub { color:#d5dde6; font-size:14px; margin-top:2px; }
nav.sections { position:sticky; top:0; z-index:10; background:#fff; border-bottom:1px solid var(--line);
  padding:0 32px; display:flex; gap:4px; flex-wrap:wrap; }
nav.sections a { display:inline-block; padding:10px 14px; color:var(--ink); text-decoration:none; font-weight:600;
  border-bottom:3px solid transparent; }
nav.sections a:hover { border-bottom-color:#9fb3c8; }
main { max-width:1240px; margin:0 auto; padding:8px 32px 48px; }
section.block { scroll-margin-top:56px; background:var(--card); border:1px solid var(--line); border-radius:10px; padding:8px 28px 24px;
  margin:22px 0; box-shadow:0 1px 2px rgba(0,0,0,.04); }
section.block > h2 { font-size:22px; margin:18px 0 6px; padding-bottom:6px; border-bottom:2px solid var(--line); }
h3 { font-size:17px; margin:26px 0 6px; }
p.lead { font-size:16px; }
p.help, .muted { color:var(--muted); font-size:14px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px; margin:14px 0 8px; }
.card { background:var(--bg); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .k { color:var(--muted); font-size:13px; }
.card .v { font-size:24px; font-weight:700; }
.card .s { color:var(--muted); font-size:12.5px; }
figure { margin:16px 0; text-align:center; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px; background:#fff; }
figcaption { color:var(--muted); font-size:13.5px; margin-top:4px; }
.grid2 { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:18px; align-items:start; }
table { border-collapse:collapse; width:100%; font-size:14px; margin:10px 0; }
th, td { border-bottom:1px solid var(--line); padding:6px 9px; text-align:left; vertical-align:top; }
th { background:#eef2f6; font-weight:650; white-space:nowrap; }
tbody tr:nth-child(even) { background:#fafbfc; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.total td { font-weight:700; background:#eef2f6; }
.table-wrap { overflow-x:auto; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12.5px; font-weight:650; color:#fff;
  background:#7f8c8d; white-space:nowrap; }
.badge.price { background:var(--price); } .badge.service { background:var(--service); } .badge.other { background:var(--other); }
.badge.tier-high { background:#c0392b; } .badge.tier-medium { background:#e67e22; } .badge.tier-low { background:#7f8c8d; }
.sharebar { display:flex; height:14px; border-radius:7px; overflow:hidden; min-width:90px; background:#eee; }
.sharebar span { display:block; height:100%; }
.sharebar .price { background:var(--price); } .sharebar .service { background:var(--service); } .sharebar .other { background:var(--other); }
.callout { border-left:4px solid #e67e22; background:#fdf5ec; padding:8px 14px; border-radius:4px; margin:14px 0; }
.callout.good { border-left-color:var(--service); background:#eef8f4; }
.callout.action { border-left-color:var(--accent); background:#eef2f6; }
ul.plain { padding-left:20px; } ul.plain li { margin:5px 0; }
.filters { display:flex; flex-wrap:wrap; gap:10px; align-items:center; margin:12px 0 4px; padding:10px 12px;
  background:var(--bg); border:1px solid var(--line); border-radius:8px; }
.filters label { font-size:13px; color:var(--muted); display:flex; flex-direction:column; gap:2px; }
.filters input, .filters select { font:inherit; font-size:14px; padding:5px 8px; border:1px solid #c4ccd6; border-radius:6px; background:#fff; }
.filters input { min-width:260px; }
#flagged-count { margin-left:auto; font-weight:650; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th::after { content:" ⇅"; color:#9aa7b4; font-weight:400; }
table.sortable th[aria-sort="ascending"]::after { content:" ▲"; color:var(--ink); }
table.sortable th[aria-sort="descending"]::after { content:" ▼"; color:var(--ink); }
td.reason { max-width:380px; }
a { color:#1f5f9f; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:4px 18px; margin:10px 0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; font-weight:550; }
.up { color:var(--up); font-weight:650; } .down { color:var(--down); font-weight:650; }
details { margin:12px 0; } details summary { cursor:pointer; font-weight:650; color:#1f5f9f; }
footer { text-align:center; color:var(--muted); font-size:13px; padding:18px; }
.crumb { margin:14px 0 0; }
@media print { nav.sections { position:static; } section.block { break-inside:avoid-page; } }
"""

TABLE_JS = """
(function () {
  "use strict";
  var table = document.getElementById("flagged-table");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var search = document.getElementById("flt-search");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var count = document.getElementById("flagged-count");

  function apply() {
    var text = search.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var ok = !text || row.getAttribute("data-search").indexOf(text) !== -1;
      selects.forEach(function (sel) {
        if (ok && sel.value && row.getAttribute("data-" + sel.getAttribute("data-filter")) !== sel.value) { ok = false; }
      });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " customers shown";
  }

  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-value");
    if (raw === null) { raw = cell.textContent; }
    if (numeric) { var n = parseFloat(raw); return isNaN(n) ? -Infinity : n; }
    return raw.toLowerCase();
  }

  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headers.forEach(function (th, index) {
    th.setAttribute("tabindex", "0");
    function sortBy() {
      var numeric = th.getAttribute("data-type") === "number";
      var descending = th.getAttribute("aria-sort") === "ascending";
      headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var sign = descending ? -1 : 1;
      rows.sort(function (a, b) {
        var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
        if (x < y) { return -sign; }
        if (x > y) { return sign; }
        return (parseInt(a.getAttribute("data-rank"), 10) - parseInt(b.getAttribute("data-rank"), 10));
      });
      rows.forEach(function (row) { tbody.appendChild(row); });
    }
    th.addEventListener("click", sortBy);
    th.addEventListener("keydown", function (event) { if (event.key === "Enter") { sortBy(); } });
  });

  search.addEventListener("input", apply);
  selects.forEach(function (sel) { sel.addEventListener("change", apply); });
  apply();
}());
"""
