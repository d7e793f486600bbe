// Live status, progress, ETA and charts of one run, without reloading the page.
(function () {
  var live = document.getElementById("live");
  renderFigures("run-figures");
  if (!live || live.dataset.finished === "1") return;
  var url = live.dataset.url;
  function text(id, value) { var el = document.getElementById(id); if (el) el.textContent = value; }
  function tick() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (state) {
        var status = document.getElementById("run-status");
        status.textContent = state.status_label;
        status.className = "status status-" + state.status;
        text("run-epoch", state.progress_epoch);
        text("run-eta", state.eta_seconds ? Math.round(state.eta_seconds) + " s" : "—");
        document.getElementById("run-progress").value = state.progress_epoch;
        if (state.stage) {
          var stage = document.getElementById("run-stage");
          stage.textContent = state.stage.label;
          stage.dataset.stage = state.stage.stage;
          text("run-queue", state.stage.queue_text);
          document.getElementById("run-stage-line").hidden = state.finished;
          var times = document.getElementById("run-stage-times");
          times.replaceChildren.apply(times, state.stage.spent.map(function (item) {
            var li = document.createElement("li"); li.textContent = item.text; return li;
          }));
        }
        var error = document.getElementById("run-error");
        if (state.error && state.status !== "succeeded") { error.textContent = state.error; error.hidden = false; }
        renderFigures(null, state.figures);
        if (state.finished) {
          live.dataset.finished = "1";
          var cancel = document.getElementById("cancel-form");
          if (cancel) cancel.remove();
          if (state.results_html) document.getElementById("run-results").innerHTML = state.results_html;
          return;
        }
        setTimeout(tick, 2000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 2000);
})();
