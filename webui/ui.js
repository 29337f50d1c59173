// Countdowns and the recent-orders table: the page works without this file, it just refreshes less.
(function () {
  function tick() {
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.expires) - Date.now()) / 1000));
      el.textContent = left > 0 ? Math.floor(left / 60) + " min " + (left % 60) + " s" : "expired";
    });
  }
  function poll() {
    var box = document.getElementById("orders");
    if (!box) { return; }
    fetch(box.dataset.poll, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (r.ok) { return r.text().then(function (html) { box.innerHTML = html; }); }
    }).catch(function () {});
  }
  tick();
  setInterval(tick, 1000);
  setInterval(poll, 3000);
})();
