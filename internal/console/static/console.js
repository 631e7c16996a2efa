// kiln console: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Confirm destructive buttons that ask for it (data-confirm).
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (ev) {
      if (!window.confirm(el.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
  // The recipe form's "Add" buttons append a component's ARN as a new
  // line of the components box; without JavaScript they stay hidden and
  // the ARNs are there to copy.
  var box = document.getElementById("components");
  document.querySelectorAll("button.add-component").forEach(function (btn) {
    if (!box) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var text = box.value;
      if (text !== "" && text.charAt(text.length - 1) !== "\n") text += "\n";
      box.value = text + btn.getAttribute("data-arn") + "\n";
      box.focus();
    });
  });
});
// The container recipe form's "Use" buttons put one of the registry's
// images in the parent image box (the datalist offers the same on
// browsers that show it).
document.addEventListener("DOMContentLoaded", function () {
  var parent = document.getElementById("parentImage");
  document.querySelectorAll("button.pick-parent").forEach(function (btn) {
    if (!parent) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      parent.value = btn.getAttribute("data-ref");
      parent.focus();
    });
  });
});
