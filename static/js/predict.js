// "Try the model on an image": upload or pick a test image, poll the worker's answer.
(function () {
  var section = document.getElementById("try-model");
  if (!section) return;
  var form = document.getElementById("try-form");
  var select = document.getElementById("try-path");
  var statusLine = document.getElementById("try-status");
  fetch(section.dataset.testUrl, {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.json() : []; })
    .then(function (rows) {
      rows.forEach(function (row) {
        var option = document.createElement("option");
        option.value = row.path;
        option.textContent = row.path + " (" + row.label + ")";
        select.appendChild(option);
      });
    });
  function show(result) {
    document.getElementById("try-predicted").textContent = result.predicted;
    var body = document.querySelector("#try-probabilities tbody");
    body.textContent = "";
    Object.keys(result.probabilities)
      .sort(function (a, b) { return result.probabilities[b] - result.probabilities[a]; })
      .forEach(function (name) {
        var tr = document.createElement("tr");
        var c = document.createElement("td"); c.textContent = name;
        var p = document.createElement("td"); p.textContent = result.probabilities[name].toLocaleString(document.documentElement.lang || undefined, {minimumFractionDigits: 4, maximumFractionDigits: 4});
        tr.appendChild(c); tr.appendChild(p); body.appendChild(tr);
      });
    if (result.heatmap_url) document.getElementById("try-heatmap").src = result.heatmap_url;
    document.getElementById("try-result").hidden = false;
  }
  var sentAt = 0;
  function say(key, values) {
    var text = statusLine.dataset[key] || "";
    Object.keys(values || {}).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    statusLine.textContent = text;
  }
  function elapsed() { return Math.round((Date.now() - sentAt) / 1000); }
  function poll(url) {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (result) {
      if (result.status === "succeeded") { say("done", {s: elapsed(), label: result.predicted}); show(result); return; }
      if (result.status === "failed") { say("failed"); statusLine.textContent += " " + result.error; return; }
      say("waiting", {s: elapsed()});
      // Often at first (a warm worker answers in well under a second), then once a second.
      setTimeout(function () { poll(url); }, Math.min(1000, 250 + 50 * elapsed()));
    }).catch(function () { setTimeout(function () { poll(url); }, 3000); });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData();
    var file = document.getElementById("try-image").files[0];
    if (file) data.append("image", file); else data.append("path", select.value);
    sentAt = Date.now();
    say("sending");
    document.getElementById("try-result").hidden = true;
    fetch(section.dataset.predictUrl, {
      method: "POST", body: data, credentials: "same-origin",
      headers: {"X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value}
    }).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (answer) {
      if (!answer.ok) {
        var b = answer.body;
        statusLine.textContent = b.detail || (b.image || b.path || b.non_field_errors || [JSON.stringify(b)])[0];
        return;
      }
      poll(answer.body.url);
    });
  });
})();
