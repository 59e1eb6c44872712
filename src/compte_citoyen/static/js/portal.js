/* Progressive enhancement only: every page works without JavaScript. No inline script (CSP). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // "Mot de passe oublié": carry the access code already typed in the login box.
    document.querySelectorAll("a[data-code-field]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var field = document.getElementById(link.getAttribute("data-code-field"));
        if (field && field.value.trim()) {
          event.preventDefault();
          var url = new URL(link.href, window.location.href);
          url.searchParams.set("code", field.value.trim());
          window.location.href = url.toString();
        }
      });
    });
    // Move focus to a form's error summary so screen-reader users hear it first.
    var summary = document.querySelector(".alert--error[tabindex='-1']");
    if (summary) { summary.focus(); }
  });
})();
