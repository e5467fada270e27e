// The gRPC ExternalProcessor Envoy's ext_proc filter calls on the list routes
// of servers with authorization rules (tools/list, prompts/list, resources/list,
// resources/templates/list; control-plane/envoy/list-filtering.ts): it answers the
// caller only what the rules let it use. It also sees the request bodies
// without a method on those servers (it refuses JSON-RPC batches) and their
// subscriptions/listen requests (every URI one subscribes to must be readable
// by the caller). The caller's verified claims arrive as jwt_authn's dynamic metadata, the method and the server (/mcp/NAME) as
// the route keys'; one message per answer, its whole body (JSON or SSE, told
// apart by its first bytes). The rules per server are the catalog's, set by
// the pipeline on each rebuild (this module owns its copy). Anything it
// cannot filter is answered 502 (fail closed), never passed on.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { AuthRule } from '../catalog/auth-schema.js';
import type { Catalog } from '../catalog/model.js';
import { JWT_FILTER, JWT_PAYLOAD_KEY } from '../envoy/agent-auth.js';
import { ROUTE_KEY_NAMESPACE } from '../envoy/mcp-route-keys.js';
import { INCLUDE_DIRS } from '../xds/api/envoy-protos.js';
import { filterListBody, type ListKind, UnfilterableBody } from './list-body-filter.js';
import { listenVerdict } from './listen-check.js';
import { allowedItems, type ItemKind } from './rule-match.js';

/** JSON-RPC's Invalid Request. */
const INVALID_REQUEST = -32600;

/** Each list method: the answer's list, and the kind of rule that decides what it keeps. */
const LIST_METHODS: Record<string, { list: ListKind; rules: ItemKind }> = {
  'tools/list': { list: 'tools', rules: 'tools' },
  'prompts/list': { list: 'prompts', rules: 'prompts' },
  'resources/list': { list: 'resources', rules: 'resources' },
  // A template is shown when it reaches a URI the caller may read.
  'resources/templates/list': { list: 'resourceTemplates', rules: 'resources' },
};

type ProtoValue = { kind?: string } & Record<string, unknown>;
type ProtoStruct = { fields?: Record<string, ProtoValue> };

/**
 * google.protobuf.Struct as proto-loader decodes it → plain JSON. The oneof is
 * named by `kind`; protobufjs' bundled well-known types use camelCase names
 * whatever keepCase says.
 */
function valueToJson(v: ProtoValue | undefined): unknown {
  if (v === undefined || v.kind === undefined) return undefined;
  const inner = v[v.kind];
  switch (v.kind) {
    case 'structValue':
    case 'struct_value':
      return structToJson(inner as ProtoStruct);
    case 'listValue':
    case 'list_value':
      return ((inner as { values?: ProtoValue[] }).values ?? []).map(valueToJson);
    case 'nullValue':
    case 'null_value':
      return null;
    default:
      return inner;
  }
}

export function structToJson(s: ProtoStruct | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(s?.fields ?? {}).map(([k, v]) => [k, valueToJson(v)]));
}

interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}

function header(headers: { headers?: HeaderValue[] } | undefined, name: string): string | undefined {
  const h = headers?.headers?.find((x) => x.key.toLowerCase() === name);
  if (h === undefined) return undefined;
  return h.raw_value && h.raw_value.length > 0 ? h.raw_value.toString('utf8') : (h.value ?? '');
}

let definition: grpc.ServiceDefinition | undefined;

function serviceDefinition(): grpc.ServiceDefinition {
  if (definition) return definition;
  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync(['envoy/service/ext_proc/v3/external_processor.proto'], {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: INCLUDE_DIRS,
    }),
  ) as unknown as { envoy: { service: { ext_proc: { v3: { ExternalProcessor: { service: grpc.ServiceDefinition } } } } } };
  definition = pkg.envoy.service.ext_proc.v3.ExternalProcessor.service;
  return definition;
}

interface ProcessingRequest {
  request_headers?: { headers?: { headers?: HeaderValue[] } };
  response_headers?: { headers?: { headers?: HeaderValue[] } };
  request_body?: { body?: Buffer; end_of_stream?: boolean };
  response_body?: { body?: Buffer; end_of_stream?: boolean };
  metadata_context?: { filter_metadata?: Record<string, ProtoStruct> };
}

function refusal(message: string): object {
  return {
    immediate_response: {
      status: { code: 502 },
      headers: { set_headers: [{ header: { key: 'content-type', raw_value: Buffer.from('application/json') } }] },
      body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: `Bad Gateway: ${message}` } })),
      details: 'mcpmesh_list_unfilterable',
    },
  };
}

function parsedBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A subscriptions/listen that names a URI the caller may not read: 403, and
 * the URI as route-key metadata, which the listener's 403 mapper names in its
 * JSON-RPC error (agent-auth.ts).
 */
function listenRefusal(server: string, uri: string): object {
  return {
    dynamic_metadata: { fields: { [ROUTE_KEY_NAMESPACE]: { structValue: { fields: { uri: { stringValue: uri } } } } } },
    immediate_response: {
      status: { code: 403 },
      headers: { set_headers: [{ header: { key: 'content-type', raw_value: Buffer.from('application/json') } }] },
      body: Buffer.from(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32003, message: `Forbidden: the authorization rules of server ${server} do not let this caller read ${uri}` },
        }),
      ),
      details: `${server}:${LISTEN_REFUSED}`,
    },
  };
}

const LISTEN_REFUSED = 'resource:listen:forbidden';

function isListenRefusal(answer: object): boolean {
  const details = (answer as { immediate_response?: { details?: string } }).immediate_response?.details;
  return details?.endsWith(`:${LISTEN_REFUSED}`) === true;
}

/**
 * A request body on a server with rules, before it goes on: a JSON-RPC batch
 * could carry calls no rule was checked for, so it is refused; a
 * subscriptions/listen must name only URIs the caller may read; anything else
 * passes (an object without a method is no call).
 */
export function requestBodyCheck(
  body: Buffer,
  server?: string,
  rules?: readonly AuthRule[],
  payload?: Readonly<Record<string, unknown>>,
): object {
  const parsed = parsedBody(body);
  if (!Array.isArray(parsed)) {
    if (server !== undefined && rules !== undefined) {
      const verdict = listenVerdict(parsed, rules, payload);
      if (!verdict.ok) return listenRefusal(server, verdict.uri);
    }
    return { request_body: { response: { status: 'CONTINUE' } } };
  }
  return {
    immediate_response: {
      // 400, not 403: the listener's 403 answers are the rules' (agent-auth.ts maps them).
      status: { code: 400 },
      headers: { set_headers: [{ header: { key: 'content-type', raw_value: Buffer.from('application/json') } }] },
      body: Buffer.from(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: INVALID_REQUEST, message: 'Bad Request: JSON-RPC batches are refused on servers with authorization rules' },
        }),
      ),
      details: 'mcpmesh_batch_refused',
    },
  };
}

/** The answer's type from its first bytes, when its headers were not sent: a JSON object, or SSE fields. */
export function sniffContentType(body: Buffer): string {
  const head = body.subarray(0, 64).toString('utf8').trimStart();
  if (head.startsWith('{')) return 'application/json';
  if (/^(data|event|id|retry):|^:/.test(head)) return 'text/event-stream';
  return '';
}

export class ListFilter {
  /** Every server of the catalog in force; undefined rules: everything allowed. */
  private rules = new Map<string, readonly AuthRule[] | undefined>();

  /** `listenDenied`: a subscriptions/listen of `server` refused by its resource rules (counted by the owner). */
  constructor(private readonly events: { listenDenied?: (server: string) => void } = {}) {}

  update(catalog: Catalog): void {
    this.rules = new Map(catalog.servers.map((s) => [s.name, s.auth.mode === 'jwt' ? s.auth.rules : undefined]));
  }

  register(add: (service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => void): void {
    add(serviceDefinition(), { Process: (call: grpc.ServerDuplexStream<ProcessingRequest, object>) => this.process(call) });
  }

  private process(call: grpc.ServerDuplexStream<ProcessingRequest, object>): void {
    let server: string | undefined;
    let method: string | undefined;
    let payload: Record<string, unknown> | undefined;
    let contentType = '';
    call.on('data', (req: ProcessingRequest) => {
      const meta = req.metadata_context?.filter_metadata;
      if (meta?.[JWT_FILTER]) payload = structToJson(meta[JWT_FILTER])[JWT_PAYLOAD_KEY] as Record<string, unknown> | undefined;
      if (meta?.[ROUTE_KEY_NAMESPACE]) {
        const keys = structToJson(meta[ROUTE_KEY_NAMESPACE]);
        method = keys['method'] as string | undefined;
        if (typeof keys['server'] === 'string') server = keys['server'];
      }
      if (req.request_headers) {
        server = /^\/mcp\/([^/?#]+)/.exec(header(req.request_headers.headers, ':path') ?? '')?.[1];
        call.write({ request_headers: { response: { status: 'CONTINUE' } } });
      } else if (req.request_body) {
        const rules = server === undefined ? undefined : this.rules.get(server);
        const answer = requestBodyCheck(req.request_body.body ?? Buffer.alloc(0), server, rules, payload);
        if (server !== undefined && isListenRefusal(answer)) this.events.listenDenied?.(server);
        call.write(answer);
      } else if (req.response_headers) {
        contentType = header(req.response_headers.headers, 'content-type') ?? '';
        // The body changes length; Envoy sends it chunked.
        call.write({ response_headers: { response: { status: 'CONTINUE', header_mutation: { remove_headers: ['content-length'] } } } });
      } else if (req.response_body) {
        const body = req.response_body.body ?? Buffer.alloc(0);
        call.write(this.filtered(server, method, payload, contentType || sniffContentType(body), body));
      }
    });
    call.on('end', () => call.end());
    call.on('error', () => call.end());
  }

  private filtered(
    server: string | undefined,
    method: string | undefined,
    payload: Record<string, unknown> | undefined,
    contentType: string,
    body: Buffer,
  ): object {
    const kind = method === undefined ? undefined : LIST_METHODS[method];
    if (server === undefined || kind === undefined || !this.rules.has(server))
      return refusal('the list could not be filtered for this caller');
    const rules = this.rules.get(server);
    if (rules === undefined) return { response_body: { response: { status: 'CONTINUE' } } };
    try {
      const text = filterListBody(body.toString('utf8'), contentType, kind.list, allowedItems(rules, payload, kind.rules));
      return { response_body: { response: { status: 'CONTINUE', body_mutation: { body: Buffer.from(text, 'utf8') } } } };
    } catch (err) {
      if (err instanceof UnfilterableBody) return refusal(`the ${method} answer could not be filtered: ${err.message}`);
      throw err;
    }
  }
}
