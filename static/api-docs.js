// Starts Swagger UI on the management API's reference page (/api/docs),
// reading the OpenAPI document named by the page. No inline script: the
// CSP allows only files from this origin.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("api-docs");
    if (!root || !window.SwaggerUIBundle) return;
    window.SwaggerUIBundle({
      url: root.dataset.spec,
      domNode: root,
      deepLinking: true,
      // Never ask a public validator about this document.
      validatorUrl: null,
    });
  });
})();
