// A study's charts, and its progress while jobs run (the page reloads once all finished).
(function () {
  renderFigures("study-figures");
  var live = document.getElementById("study-live");
  if (!live || live.dataset.done === "1") return;
  function tick() {
    fetch(live.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (state) {
        document.getElementById("study-finished").textContent = state.finished;
        document.getElementById("study-progress").value = state.finished;
        // Every counter from the same answer, so they never contradict each other.
        live.querySelectorAll("[data-status]").forEach(function (el) {
          var n = (state.counts || {})[el.dataset.status] || 0;
          el.querySelector(".count").textContent = n;
          el.hidden = n === 0;
        });
        if (state.done) { window.location.reload(); return; }
        setTimeout(tick, 3000);
      })
      .catch(function () { setTimeout(tick, 6000); });
  }
  setTimeout(tick, 3000);
})();
