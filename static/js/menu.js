// The header menu is a <details>: it works without this file. This adds two things:
// wide screens show it open even where CSS cannot reveal closed <details> content,
// and Escape closes it on small screens, returning focus to its button.
(function () {
  var menu = document.getElementById("site-menu");
  if (!menu) return;
  var wide = window.matchMedia("(min-width: 50rem)");
  var cssReveals = window.CSS && CSS.supports && CSS.supports("selector(::details-content)");
  function sync() { if (wide.matches && !cssReveals) menu.open = true; }
  sync();
  if (wide.addEventListener) wide.addEventListener("change", sync);
  menu.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && menu.open && !wide.matches) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
})();
