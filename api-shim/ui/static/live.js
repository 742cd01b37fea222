// Live numbers on the overview: every few seconds, fetch /ui/overview.json (same session) and
// write each value into the element whose data-live attribute names it. The page works without
// this file; it only saves a reload.
"use strict";
(function () {
  var every = 3000;
  function refresh() {
    fetch("/ui/overview.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (values) {
        if (!values) { return; }
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var v = values[el.getAttribute("data-live")];
          if (v !== undefined && el.textContent !== String(v)) { el.textContent = v; }
        });
      })
      .catch(function () { /* the next tick tries again */ })
      .finally(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
