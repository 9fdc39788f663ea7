// Behaviour shared by every page. Loaded as a file: the CSP forbids inline scripts.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (token) { event.detail.headers["X-CSRFToken"] = token.content; }
  });
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
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
      new TomSelect(el, {
        placeholder: hint,
        render: {
          no_results: function () { return '<div class="no-results">' + escapeHtml(noResults) + "</div>"; },
          loading: function () { return '<div class="spinner-border spinner-border-sm m-2" role="status"></div>'; }
        },
        valueField: "code", labelField: "full_name", searchField: ["full_name", "code"],
        maxOptions: 50, loadThrottle: 250, plugins: el.multiple ? ["remove_button"] : [],
        load: function (query, callback) {
          if (!query.length) { return callback(); }
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
