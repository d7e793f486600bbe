// Choosing a library fills in its thesis Table 4.1 settings.
(function () {
  var presets = JSON.parse(document.getElementById("presets").textContent);
  var library = document.getElementById("id_library");
  if (!library) return;
  library.addEventListener("change", function () {
    var preset = presets[library.value];
    Object.keys(preset).forEach(function (name) {
      var field = document.getElementById("id_" + name);
      if (!field) return;
      if (field.type === "checkbox") field.checked = !!preset[name];
      else field.value = preset[name];
    });
  });
})();
