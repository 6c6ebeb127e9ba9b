// The API reference at /api/docs/: Swagger UI (npm swagger-ui-dist, copied beside this file by
// the build) on the merged document beside it. No inline script: the gateway's CSP allows
// scripts from this origin only.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: 'openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
});
