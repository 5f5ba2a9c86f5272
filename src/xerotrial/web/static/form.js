// Checks as a field is left (the server checks again on save): hard limits, soft limits,
// required. The page works without this script.
(function () {
  "use strict";
  function check(input) {
    var out = input.parentNode.querySelector(".check");
    if (!out) { return; }
    var text = input.value.trim(), msg = "", soft = false;
    if (text === "") {
      if (input.dataset.required) { msg = "required"; soft = true; }
    } else if (input.dataset.lo !== undefined || input.dataset.hi !== undefined) {
      var x = Number(text.replace(",", "."));
      if (!isFinite(x)) { msg = "not a number"; }
      else if (input.dataset.lo !== undefined && x < Number(input.dataset.lo)) { msg = "below " + input.dataset.lo + ": will be refused"; }
      else if (input.dataset.hi !== undefined && x > Number(input.dataset.hi)) { msg = "above " + input.dataset.hi + ": will be refused"; }
      else if (input.dataset.softLo !== undefined && x < Number(input.dataset.softLo)) { msg = "below the expected " + input.dataset.softLo; soft = true; }
      else if (input.dataset.softHi !== undefined && x > Number(input.dataset.softHi)) { msg = "above the expected " + input.dataset.softHi; soft = true; }
    }
    out.textContent = msg;
    out.className = soft ? "check soft" : "check";
  }
  document.querySelectorAll("input[data-lo], input[data-hi], input[data-required]").forEach(function (el) {
    el.addEventListener("blur", function () { check(el); });
  });
})();
