// A dataset import's progress; opens the dataset page once it has been imported.
(function () {
  var live = document.getElementById("import-live");
  if (!live || live.dataset.status === "succeeded" || live.dataset.status === "failed") return;
  function tick() {
    fetch(live.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (state) {
        document.getElementById("import-status").textContent = state.status_label || state.status;
        var lang = document.documentElement.lang || undefined;
        document.getElementById("import-done").textContent = state.done.toLocaleString(lang, {useGrouping: "always"});
        document.getElementById("import-total").textContent = state.total.toLocaleString(lang, {useGrouping: "always"});
        document.getElementById("import-progress").value = state.percent;
        if (state.status === "succeeded" && state.dataset_url) {
          if (state.skipped_members) { window.location.reload(); } else { window.location.href = state.dataset_url; }
          return;
        }
        if (state.status === "failed") {
          var error = document.getElementById("import-error");
          error.textContent = state.error; error.hidden = false; return;
        }
        setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 500);
})();
