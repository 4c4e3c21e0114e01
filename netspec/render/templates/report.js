// Folding the layer table: a block's row shows or hides its children; a link to a hidden row
// (from the diagram, a chart or a lint finding) unfolds its ancestors first.
(function () {
  "use strict";
  var table = document.getElementById("layer-table");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var byId = {}, kids = {};
  rows.forEach(function (r) {
    byId[r.id] = r;
    var p = r.getAttribute("data-parent");
    if (p) (kids[p] = kids[p] || []).push(r);
  });

  function setOpen(row, open) {
    if (!kids[row.id]) return;
    row.setAttribute("aria-expanded", open ? "true" : "false");
    kids[row.id].forEach(function (k) {
      k.hidden = !open;
      if (!open) setOpen(k, false);
    });
  }

  table.addEventListener("click", function (e) {
    var button = e.target.closest("button.toggle");
    if (!button) return;
    var row = button.closest("tr");
    setOpen(row, row.getAttribute("aria-expanded") !== "true");
  });

  document.querySelectorAll("[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      var open = b.getAttribute("data-action") === "expand-all";
      rows.forEach(function (r) { if (open || !r.getAttribute("data-parent")) setOpen(r, open); });
    });
  });

  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var row = byId[id];
    if (!row) return;
    var chain = [];
    for (var p = row.getAttribute("data-parent"); p; p = byId[p].getAttribute("data-parent")) chain.push(byId[p]);
    chain.reverse().forEach(function (a) { setOpen(a, true); });
    row.scrollIntoView({block: "center"});
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
