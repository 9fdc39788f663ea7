// Behaviour shared by every page. Loaded as a file: the CSP forbids inline scripts.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (token) { event.detail.headers["X-CSRFToken"] = token.content; }
  });
  // A move the same user cannot undo asks first: data-confirm on the form or on the button pressed.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) || event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
  // A deadline badge shows its exact deadline on a tap (a phone has no hover for the title).
  document.addEventListener("click", function (event) {
    var badge = event.target.closest ? event.target.closest(".deadline-badge[data-deadline]") : null;
    if (!badge) { return; }
    var shown = badge.getAttribute("data-shown");
    if (shown === null) {
      badge.setAttribute("data-shown", badge.textContent);
      badge.textContent = badge.getAttribute("data-deadline");
    } else {
      badge.textContent = shown;
      badge.removeAttribute("data-shown");
    }
  });
  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }
  function initRemoteSelects(root) {
    root.querySelectorAll("select[data-remote]").forEach(function (el) {
      if (el.tomselect) { return; }
      var url = el.getAttribute("data-remote");
      var noResults = el.getAttribute("data-no-results") || "";
      var hint = el.getAttribute("data-hint") || "";
      // Territories by default; a menu of other records names its fields. A menu with
      // data-preload asks for its first options when opened, as a plain select shows them.
      var valueField = el.getAttribute("data-value-field") || "code";
      var labelField = el.getAttribute("data-label-field") || "full_name";
      var preload = el.hasAttribute("data-preload");
      var render = {
        // Without data-no-results, a search that finds nothing just shows no options.
        no_results: function () { return noResults ? '<div class="no-results">' + escapeHtml(noResults) + "</div>" : null; },
        loading: function () { return '<div class="spinner-border spinner-border-sm m-2" role="status"></div>'; }
      };
      if (!el.multiple) {
        // One line, the name cut short: in a narrow column a long name and the search box would
        // wrap while focused and unwrap on blur, moving whatever is below away from a tap.
        render.item = function (data, escape) { return '<div class="text-truncate">' + escape(data[labelField]) + "</div>"; };
      }
      new TomSelect(el, {
        placeholder: hint,
        controlClass: el.multiple ? "ts-control" : "ts-control flex-nowrap",
        render: render,
        valueField: valueField, labelField: labelField,
        searchField: valueField === "code" ? [labelField, "code"] : [labelField],
        maxOptions: 50, loadThrottle: 250, plugins: el.multiple ? ["remove_button"] : [],
        preload: preload ? "focus" : false,
        load: function (query, callback) {
          if (!query.length && !preload) { return callback(); }
          fetch(url + "?q=" + encodeURIComponent(query), { credentials: "same-origin" })
            .then(function (r) { return r.json(); })
            .then(function (json) { callback(json.results); })
            .catch(function () { callback(); });
        }
      });
    });
  }
  initRemoteSelects(document);
})();
