// Swagger UI for /openapi.json, served offline by the gateway (no CDN). The bearer token entered with
// "Authorize" is kept in the browser's localStorage across reloads (persistAuthorization).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    tryItOutEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
