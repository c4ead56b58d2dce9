// Index filters: show only traces matching correctness and crop count. The page works (unfiltered) without it.
(function () {
  var correct = document.getElementById("filter-correct");
  var crops = document.getElementById("filter-crops");
  var counter = document.getElementById("filter-count");
  if (!correct || !crops) return;
  function matches(el) {
    var c = correct.value, n = crops.value, got = el.getAttribute("data-correct");
    var k = parseInt(el.getAttribute("data-crops"), 10);
    if (c !== "all" && got !== c) return false;
    if (n === "any") return true;
    if (n === "3+") return k >= 3;
    return k === parseInt(n, 10);
  }
  function apply() {
    var shown = 0;
    document.querySelectorAll("[data-trace]").forEach(function (el) {
      var ok = matches(el);
      el.classList.toggle("hidden", !ok);
      if (ok && el.tagName === "TR") shown += 1;
    });
    if (counter) counter.textContent = shown + " shown";
  }
  correct.addEventListener("change", apply);
  crops.addEventListener("change", apply);
  apply();
})();
