// Render Plotly figures that the server built (same builders as the API).
function renderFigure(elementId, scriptId, figure) {
  var el = document.getElementById(elementId);
  if (!el) return;
  var fig = figure || JSON.parse(document.getElementById(scriptId).textContent);
  if (!fig || !fig.data) return;
  Plotly.react(el, fig.data, fig.layout || {}, {responsive: true, displaylogo: false});
  el.dataset.rendered = "1";
}
function renderFigures(scriptId, figures) {
  var all = figures || JSON.parse(document.getElementById(scriptId).textContent);
  Object.keys(all).forEach(function (name) { renderFigure("chart-" + name, null, all[name]); });
}
