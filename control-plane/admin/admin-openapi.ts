// The admin API's OpenAPI 3.1 document, written by hand beside the routes
// (no swagger plugin is installed), and a self-contained page that renders it:
// the control plane runs where there may be no internet, so no CDN assets.
const error = { $ref: '#/components/schemas/Error' };
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const errors = {
  '400': { description: 'Invalid input', ...json(error) },
  '401': { description: 'Missing or wrong bearer token', ...json(error) },
  '403': { description: 'Changes disabled (no token configured)', ...json(error) },
  '404': { description: 'Unknown server or replica', ...json(error) },
  '413': { description: 'Body too large', ...json(error) },
};
const name = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'MCP server name' };
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'Replica id' };
const anyObject = { type: 'object', additionalProperties: true };

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'mcpmesh control-plane admin API', version: '1.0.0', description: 'Read the mesh, change policies, drain replicas. Changes need `Authorization: Bearer <token>`.' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'array', items: { type: 'string' } } } } },
      },
      Policy: { ...anyObject, description: 'The policy schema of docs/config.md (durations as strings such as "250ms").' },
      Server: anyObject,
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'Alive' } } } },
    '/readyz': { get: { summary: 'Readiness: the source has synced and xDS serves', security: [], responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } } } },
    '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Prometheus text format' } } } },
    '/api/v1/servers': { get: { summary: 'MCP servers with replicas, health and effective policy', responses: { '200': { description: 'Servers', ...json({ type: 'object', properties: { servers: { type: 'array', items: { $ref: '#/components/schemas/Server' } } } }) }, ...errors } } },
    '/api/v1/servers/{name}': { get: { summary: 'One MCP server', parameters: [name], responses: { '200': { description: 'Server', ...json({ $ref: '#/components/schemas/Server' }) }, ...errors } } },
    '/api/v1/servers/{name}/policy': {
      put: { summary: "Set a server's policy (written to the source in force)", parameters: [name], requestBody: { required: true, ...json({ $ref: '#/components/schemas/Policy' }) }, responses: { '202': { description: 'Stored; reaches Envoy with the next snapshot' }, ...errors } },
      delete: { summary: "Delete a server's policy", parameters: [name], responses: { '202': { description: 'Deleted' }, ...errors } },
    },
    '/api/v1/servers/{name}/replicas/{id}/drain': { post: { summary: 'No new traffic to the replica; calls in flight finish', parameters: [name, id], responses: { '200': { description: 'Draining' }, ...errors } } },
    '/api/v1/servers/{name}/replicas/{id}/undrain': { post: { summary: 'Return a drained replica to service', parameters: [name, id], responses: { '200': { description: 'Serving' }, ...errors } } },
    '/api/v1/clients': { get: { summary: 'Connected Envoys: node, variant, ACKed versions, last NACK', responses: { '200': { description: 'Clients' }, ...errors } } },
    '/api/v1/snapshot': { get: { summary: 'The current snapshot: versions and resources as JSON', responses: { '200': { description: 'Snapshot' }, ...errors } } },
    '/api/v1/sd/adapters': { get: { summary: 'Adapter replicas as Prometheus HTTP service-discovery target groups', responses: { '200': { description: 'Target groups' }, ...errors } } },
    '/api/v1/source': { get: { summary: 'Source status: synced, stale, last error', responses: { '200': { description: 'Source status' }, ...errors } } },
  },
} as const;

export const DOCS_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>mcpmesh admin API</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}code{background:#f3f3f3;padding:0 .3em}.op{margin:.6em 0}.m{display:inline-block;width:5em;font-weight:bold}</style></head>
<body><h1>mcpmesh admin API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Changes need <code>Authorization: Bearer &lt;token&gt;</code>.</p><div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(doc=>{const out=[];for(const [p,ops] of Object.entries(doc.paths)){for(const [m,op] of Object.entries(ops)){out.push('<div class="op"><span class="m">'+m.toUpperCase()+'</span><code>'+p+'</code> — '+op.summary+'</div>')}}document.getElementById('ops').innerHTML=out.join('')});
</script></body></html>`;
