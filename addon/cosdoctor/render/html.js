(function () {
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.hidden = false;
  var rows = Array.prototype.slice.call(document.querySelectorAll("details.flow"));
  var counter = document.getElementById("shown");
  function picked(name) {
    var out = [];
    form.querySelectorAll("input[name='" + name + "']").forEach(function (box) {
      if (box.checked) { out.push(box.value); }
    });
    return out;
  }
  function any(wanted, attr) {
    if (!wanted.length) { return true; }
    var have = (attr || "").split(" ");
    for (var i = 0; i < wanted.length; i++) {
      if (have.indexOf(wanted[i]) >= 0) { return true; }
    }
    return false;
  }
  function apply() {
    var ids = picked("id"), sevs = picked("sev"), shown = 0;
    rows.forEach(function (row) {
      var keep = any(ids, row.getAttribute("data-f")) && any(sevs, row.getAttribute("data-s"));
      row.hidden = !keep;
      if (keep) { shown++; }
    });
    counter.textContent = counter.getAttribute("data-template")
      .replace("{shown}", String(shown)).replace("{total}", String(rows.length));
  }
  form.addEventListener("change", apply);
  document.getElementById("clear").addEventListener("click", function () {
    form.querySelectorAll("input").forEach(function (box) { box.checked = false; });
    apply();
  });
  document.querySelectorAll("a[data-pick]").forEach(function (link) {
    link.addEventListener("click", function () {
      var token = link.getAttribute("data-pick");
      form.querySelectorAll("input").forEach(function (box) {
        box.checked = box.name === "id" && box.value === token;
      });
      apply();
    });
  });
  apply();
})();
