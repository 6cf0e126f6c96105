// Starts Swagger UI on the API reference page. Kept in a file (not inline) so the page
// works under Vigil's Content-Security-Policy, which forbids inline scripts.
window.addEventListener("DOMContentLoaded", () => {
  // eslint-disable-next-line no-undef
  SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
  });
});
