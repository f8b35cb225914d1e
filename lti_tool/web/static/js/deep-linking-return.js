// Hand the signed deep-linking answer to the platform as soon as the page loads.
"use strict";

(function () {
  const form = document.getElementById("deep-linking-return");
  if (form) form.submit();
})();
