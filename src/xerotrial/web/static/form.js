// As a field is left or changed, the server applies the form's rules to what is typed so far
// (POST .../preview: the checks a save applies, the branching, the calculations) and this
// shows the answer: a field's problem beside it, fields the branching does not ask hidden,
// calculated values filled in. The rules live on the server only; the page works without this.
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview]");
  if (!form || !window.fetch || !window.FormData) { return; }
  var asked = 0;
  function apply(p) {
    form.querySelectorAll(".field[data-field]").forEach(function (div) {
      var name = div.dataset.field;
      if (Object.prototype.hasOwnProperty.call(p.shown, name)) {
        div.hidden = p.shown[name] === false;
      }
      var input = document.getElementById("f_" + name);
      if (input && Object.prototype.hasOwnProperty.call(p.calculated, name)) {
        input.value = p.calculated[name];
      }
      var out = div.querySelector(".check");
      if (!out) { return; }
      var error = p.errors[name] || "", note = p.notes[name] || "";
      out.textContent = error || note;
      out.className = error ? "check" : (note ? "check soft" : "check");
    });
  }
  function preview() {
    var mine = ++asked;
    fetch(form.dataset.preview, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (p && mine === asked) { apply(p); } })
      .catch(function () { /* the save checks again */ });
  }
  form.addEventListener("focusout", preview);
  form.addEventListener("change", preview);
  preview();
})();
