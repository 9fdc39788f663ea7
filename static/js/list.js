// The shared list component (templates/_list.html): a select-all box ticks every row of its
// form, and the bulk bar counts the ticked rows. Loaded as a file: the CSP forbids inline scripts.
(function () {
  "use strict";
  function boxes(formId) { return document.querySelectorAll('input[data-bulk="' + formId + '"]'); }
  function count(formId) {
    var label = document.querySelector('[data-selected-count="' + formId + '"]');
    if (!label) { return; }
    var n = 0;
    boxes(formId).forEach(function (box) { if (box.checked) { n += 1; } });
    label.textContent = label.getAttribute("data-template").replace("__n__", String(n));
  }
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var formId = all.getAttribute("data-select-all");
    all.addEventListener("change", function () {
      boxes(formId).forEach(function (box) { box.checked = all.checked; });
      count(formId);
    });
  });
  document.addEventListener("change", function (event) {
    var formId = event.target.getAttribute && event.target.getAttribute("data-bulk");
    if (formId) { count(formId); }
  });
}());
