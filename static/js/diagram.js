// Draws the workflow diagram from the Mermaid source in <pre class="mermaid">.
// A file, not an inline script: the CSP allows scripts from 'self' only.
(function () {
  "use strict";
  if (typeof window.mermaid === "undefined" || !document.querySelector("pre.mermaid")) { return; }
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
  window.mermaid.run({ querySelector: "pre.mermaid" }).catch(function () {
    // The table below the diagram carries the same facts; leave the source visible.
  });
})();
