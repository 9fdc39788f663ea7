// Charts drawn with the vendored Chart.js. Loaded as a file: the CSP forbids inline scripts.
// A <canvas data-chart="funnel" data-source="ID"> reads its figures from the
// <script type="application/json" id="ID"> element the page renders: {title, label, labels, values}.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var palette = ["#0d6efd", "#3d8bfd", "#6610f2", "#6f42c1", "#fd7e14", "#198754"];
  document.querySelectorAll("canvas[data-chart='funnel']").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-source"));
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{ label: data.label, data: data.values, backgroundColor: palette, borderWidth: 0 }]
      },
      options: {
        indexAxis: "y",
        animation: false,
        responsive: true,
        plugins: {
          legend: { display: false },
          title: { display: true, text: data.title }
        },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  });
})();
