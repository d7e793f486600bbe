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

// Pages mark what to draw (no inline scripts: the Content-Security-Policy forbids them):
// data-render-figure="<json_script id>" on a chart element, or
// data-render-figures="<json_script id>" for a set of chart-<name> elements.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-render-figure]").forEach(function (el) {
    renderFigure(el.id, el.dataset.renderFigure);
  });
  document.querySelectorAll("[data-render-figures]").forEach(function (el) {
    renderFigures(el.dataset.renderFigures);
  });
});
