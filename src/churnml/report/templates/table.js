(function () {
  "use strict";
  var table = document.getElementById("flagged-table");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var search = document.getElementById("flt-search");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var count = document.getElementById("flagged-count");
  var prev = document.getElementById("pg-prev");
  var next = document.getElementById("pg-next");
  var info = document.getElementById("pg-info");
  var sizeSelect = document.getElementById("pg-size");
  var size = parseInt(table.getAttribute("data-page-size"), 10) || 50;
  var page = 0;
  var matching = rows;

  function show() {
    var pages = Math.max(1, Math.ceil(matching.length / size));
    if (page >= pages) { page = pages - 1; }
    var first = page * size;
    var last = Math.min(first + size, matching.length);
    rows.forEach(function (row) { row.hidden = true; });
    for (var i = first; i < last; i += 1) { matching[i].hidden = false; }
    count.textContent = matching.length + " of " + rows.length + " customers match";
    info.textContent = matching.length ? "rows " + (first + 1) + "–" + last + " · page " + (page + 1) + " of " + pages : "no row";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function apply() {
    var text = search.value.trim().toLowerCase();
    matching = rows.filter(function (row) {
      var ok = !text || row.getAttribute("data-search").indexOf(text) !== -1;
      selects.forEach(function (sel) {
        if (ok && sel.value && row.getAttribute("data-" + sel.getAttribute("data-filter")) !== sel.value) { ok = false; }
      });
      return ok;
    });
    page = 0;
    show();
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
      apply();
    }
    th.addEventListener("click", sortBy);
    th.addEventListener("keydown", function (event) { if (event.key === "Enter") { sortBy(); } });
  });

  prev.addEventListener("click", function () { page -= 1; show(); });
  next.addEventListener("click", function () { page += 1; show(); });
  sizeSelect.addEventListener("change", function () { size = parseInt(sizeSelect.value, 10) || size; page = 0; show(); });
  search.addEventListener("input", apply);
  selects.forEach(function (sel) { sel.addEventListener("change", apply); });
  apply();
}());
