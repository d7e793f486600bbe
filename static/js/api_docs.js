// Swagger UI draws after load and redraws as sections open. Each operation's summary is a
// <button> with a deep link (<a href>) inside it: a control inside a control, which screen
// readers cannot announce (axe: nested-interactive). The link loses its href (the button does
// the same thing); the node stays, so Swagger's React keeps managing it.
(function () {
  var root = document.getElementById("swagger-ui");
  function mend() {
    root.querySelectorAll("button a[href], [role=button] a[href]").forEach(function (link) {
      link.removeAttribute("href");
    });
  }
  new MutationObserver(mend).observe(root, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["href"],
  });
  mend();
})();
