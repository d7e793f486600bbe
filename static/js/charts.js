// Render Plotly figures that the server built (same builders as the API). Each chart resizes
// with its box and gets a text alternative: its data as a table, in a <details> under it.
var CHART_TEXT = (function () {
  var el = document.getElementById("chart-text");
  var data = el ? el.dataset : {};
  return {
    show: data.show || "Data of this chart",
    chart: data.chart || "Chart",
    tableBelow: data.tableBelow || "data in the table below",
  };
})();

// Plotly's own words (toolbar, hints) and number format in Spanish; English is built in.
if (window.Plotly && Plotly.register) {
  Plotly.register({
    moduleType: "locale",
    name: "es",
    dictionary: {
      "Autoscale": "Autoescalar",
      "Box Select": "Selección rectangular",
      "Click to enter Colorscale title": "Pulsa para escribir el título de la escala de color",
      "Click to enter Plot title": "Pulsa para escribir el título del gráfico",
      "Compare data on hover": "Comparar los datos al pasar el ratón",
      "Double-click to zoom back out": "Doble clic para alejar de nuevo",
      "Download plot": "Descargar el gráfico",
      "Download plot as a png": "Descargar el gráfico como png",
      // plotly.js 4 spells it with capitals.
      "Download plot as a PNG": "Descargar el gráfico como PNG",
      "Download plot as JSON": "Descargar el gráfico como JSON",
      "Double-click on legend to isolate one trace": "Doble clic en la leyenda para aislar una serie",
      "Image download succeeded": "Imagen descargada",
      "Preparing image - this may take a few seconds": "Preparando la imagen; puede tardar unos segundos",
      "Sorry, there was a problem downloading your image!": "No se pudo descargar la imagen.",
      "Toggle show closest data on hover": "Mostrar u ocultar el dato más cercano al pasar el ratón",
      "Reset": "Restablecer",
      "Lasso Select": "Selección con lazo",
      "Pan": "Desplazar",
      "Produced with Plotly.js": "Hecho con Plotly.js",
      "Reset axes": "Restablecer los ejes",
      "Reset view": "Restablecer la vista",
      "Show closest data on hover": "Mostrar el dato más cercano al pasar el ratón",
      "Toggle Spike Lines": "Mostrar u ocultar las líneas guía",
      "Zoom": "Zoom",
      "Zoom in": "Acercar",
      "Zoom out": "Alejar",
    },
    format: {
      days: ["domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"],
      shortDays: ["dom", "lun", "mar", "mié", "jue", "vie", "sáb"],
      months: ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
        "septiembre", "octubre", "noviembre", "diciembre"],
      shortMonths: ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov",
        "dic"],
      date: "%d/%m/%Y",
      decimal: ",",
      thousands: ".",
    },
  });
}

function figureTitle(fig) {
  var title = fig.layout && fig.layout.title;
  return (title && (title.text || title)) || CHART_TEXT.chart;
}

function axisTitle(fig, axis) {
  var a = fig.layout && fig.layout[axis];
  return (a && a.title && (a.title.text || a.title)) || "";
}

function cell(row, tag, text) {
  var c = document.createElement(tag);
  c.textContent = text === null || text === undefined ? "—" : String(text);
  if (tag === "th") c.scope = row.parentNode && row.parentNode.tagName === "THEAD" ? "col" : "row";
  row.appendChild(c);
  return c;
}

function formatValue(value) {
  if (typeof value !== "number") return value;
  var lang = document.documentElement.lang || undefined;
  return value.toLocaleString(lang, {maximumSignificantDigits: 4});
}

// One table for the figure: heatmaps as their matrix, other traces as columns against x.
function dataTable(fig) {
  var traces = (fig.data || []).filter(function (t) {
    return Array.isArray(t.x) && (Array.isArray(t.y) || Array.isArray(t.z));
  });
  if (!traces.length) {
    var note = document.createElement("p");
    var annotations = (fig.layout && fig.layout.annotations) || [];
    note.textContent = annotations.map(function (a) { return a.text; }).join(" ") || "—";
    return note;
  }
  var table = document.createElement("table");
  var caption = table.createCaption();
  caption.textContent = figureTitle(fig);
  var head = table.createTHead().insertRow();
  var body = table.createTBody();
  var heat = traces.filter(function (t) { return t.type === "heatmap"; })[0];
  if (heat) {
    cell(head, "th", axisTitle(fig, "yaxis") + " \\ " + axisTitle(fig, "xaxis"));
    heat.x.forEach(function (x) { cell(head, "th", x); });
    heat.z.forEach(function (values, i) {
      var row = body.insertRow();
      cell(row, "th", heat.y[i]);
      values.forEach(function (v) { cell(row, "td", formatValue(v)); });
    });
    return table;
  }
  var xs = [];
  traces.forEach(function (t) {
    t.x.forEach(function (x) { if (xs.indexOf(x) === -1) xs.push(x); });
  });
  cell(head, "th", axisTitle(fig, "xaxis"));
  traces.forEach(function (t, i) { cell(head, "th", t.name || axisTitle(fig, "yaxis") || i + 1); });
  xs.forEach(function (x) {
    var row = body.insertRow();
    cell(row, "th", formatValue(x));
    traces.forEach(function (t) {
      var i = t.x.indexOf(x);
      cell(row, "td", i === -1 ? null : formatValue(t.y[i]));
    });
  });
  return table;
}

// The chart sits in a <figure> with its data table, so grids lay out the pair as one item.
function textAlternative(el, fig) {
  var figure = el.parentNode;
  if (!figure.classList.contains("chart-figure")) {
    figure = document.createElement("figure");
    figure.className = "chart-figure";
    el.parentNode.insertBefore(figure, el);
    figure.appendChild(el);
  }
  // Named on the <figure>: a role="img" chart box would hide Plotly's own buttons.
  figure.setAttribute("aria-label", figureTitle(fig) + " (" + CHART_TEXT.tableBelow + ")");
  var details = figure.querySelector("details.chart-data");
  if (!details) {
    details = document.createElement("details");
    details.className = "chart-data";
    var summary = document.createElement("summary");
    summary.textContent = CHART_TEXT.show + ": " + figureTitle(fig);
    details.appendChild(summary);
    var box = document.createElement("div");
    box.className = "table-scroll";
    box.tabIndex = 0;
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", figureTitle(fig));
    details.appendChild(box);
    figure.appendChild(details);
  }
  var scroll = details.querySelector(".table-scroll");
  scroll.replaceChildren(dataTable(fig));
}

// Plotly does not wrap a title: on a narrow box, break a long one into lines (about 8 px a
// character at its size) and make room for them above the plot.
function fitTitle(layout, width) {
  var title = layout.title && (layout.title.text || layout.title);
  if (typeof title !== "string" || title.indexOf("<br>") !== -1) return;
  var perLine = Math.max(16, Math.floor((width - 40) / 9));
  if (title.length <= perLine) return;
  var lines = [], line = "";
  title.split(" ").forEach(function (word) {
    if (line && (line + " " + word).length > perLine) { lines.push(line); line = word; }
    else { line = line ? line + " " + word : word; }
  });
  lines.push(line);
  layout.title = Object.assign({}, layout.title, {text: lines.join("<br>")});
  layout.margin = Object.assign({}, layout.margin);
  layout.margin.t = Math.max(layout.margin.t || 50, 30 + 20 * lines.length);
}

function renderFigure(elementId, scriptId, figure) {
  var el = document.getElementById(elementId);
  if (!el) return;
  var fig = figure || JSON.parse(document.getElementById(scriptId).textContent);
  if (!fig || !fig.data) return;
  var layout = Object.assign({}, fig.layout || {}, {autosize: true});
  delete layout.width;  // the box decides the width, so phones get a chart that fits
  fitTitle(layout, el.clientWidth || 320);
  var locale = document.documentElement.lang || "en";
  Plotly.react(el, fig.data, layout, {responsive: true, displaylogo: false, locale: locale});
  el.dataset.rendered = "1";
  textAlternative(el, fig);
}
function renderFigures(scriptId, figures) {
  var all = figures || JSON.parse(document.getElementById(scriptId).textContent);
  Object.keys(all).forEach(function (name) { renderFigure("chart-" + name, null, all[name]); });
}

// Pages name their figures' json_script in data attributes, so no inline script is needed
// (the Content-Security-Policy allows only scripts from static/js):
// <div class="chart" id="chart-x" data-figure="script-id"> for one figure,
// <div data-figures="script-id"> for a {name: figure} map drawn into #chart-<name> boxes.
(function () {
  function renderMarked() {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      renderFigure(el.id, el.dataset.figure);
    });
    document.querySelectorAll("[data-figures]").forEach(function (el) {
      renderFigures(el.dataset.figures);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderMarked);
  else renderMarked();
})();
