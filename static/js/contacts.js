// The new-lead form's contacts: one row shown, "add another contact" copies an empty one.
// Loaded as a file: the CSP forbids inline scripts.
(function () {
  "use strict";
  var box = document.querySelector("[data-contacts]");
  var button = document.querySelector("[data-add-contact]");
  if (!box || !button) { return; }
  var max = parseInt(box.getAttribute("data-max"), 10) || 20;
  function rows() { return box.querySelectorAll("[data-contact]"); }
  function refresh() { button.hidden = rows().length >= max; }
  button.addEventListener("click", function () {
    var all = rows();
    if (all.length >= max) { return; }
    var last = all[all.length - 1];
    var index = all.length;
    var copy = last.cloneNode(true);
    copy.setAttribute("data-contact", String(index));
    copy.querySelectorAll("[name], [id], [for]").forEach(function (el) {
      ["name", "id", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value) { el.setAttribute(attr, value.replace(/^contacts-\d+-/, "contacts-" + index + "-")); }
      });
      if (el.tagName === "INPUT") { el.value = ""; el.classList.remove("is-invalid"); }
    });
    copy.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
    var legend = copy.querySelector("legend");
    if (legend) { legend.textContent = legend.getAttribute("data-legend").replace("__n__", String(index + 1)); }
    last.parentNode.insertBefore(copy, last.nextSibling);
    var first = copy.querySelector("input");
    if (first) { first.focus(); }
    refresh();
  });
  refresh();
}());
