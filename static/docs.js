// Starts Swagger UI on /docs from this server's own copy, so the API documentation works offline.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.getElementById("swagger-ui").dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No badge from the online validator: it would send the document elsewhere, and the policy forbids its image.
    validatorUrl: null,
  });
});
