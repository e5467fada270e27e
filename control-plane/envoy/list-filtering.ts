// List filtering in Envoy: the ext_proc filter that sends the answers of
// tools/list, prompts/list, resources/list and resources/templates/list, on servers with authorization
// rules only (and the bodies without a method, for batches), to the control
// plane's ExternalProcessor
// (control-plane/list-filter/), over the bootstrap's cluster to the control
// plane (so xDS TLS covers it too). The listener has the filter off: only
// the routes of servers with rules turn it on (listFilterOn), and of those,
// the listener's processing mode skips everything and only the list, listen
// and default routes ask for messages. Fail closed: no answer from the
// control plane is a 500, never an unfiltered list.
import { XDS_CLUSTER } from '../../lib/mesh-contracts.js';
import type { CatalogAuth } from '../catalog/auth-resolution.js';
import { JWT_FILTER } from './agent-auth.js';
import { ROUTE_KEY_NAMESPACE } from './mcp-route-keys.js';
import { duration, filterOn } from './proto-values.js';

export const EXT_PROC_FILTER = 'envoy.filters.http.ext_proc';
export const LIST_METHODS = ['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list'] as const;

const SKIP_ALL = {
  request_header_mode: 'SKIP',
  response_header_mode: 'SKIP',
  request_body_mode: 'NONE',
  response_body_mode: 'NONE',
  request_trailer_mode: 'SKIP',
  response_trailer_mode: 'SKIP',
};

export function listFilterHttpFilter(): object {
  return {
    name: EXT_PROC_FILTER,
    // Even skipping everything, the filter cost Envoy about 9 µs per request
    // (bench/RESULTS.md, "Where JWT's CPU goes"); off, it is not even created
    // for a request whose route does not turn it on.
    disabled: true,
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
      grpc_service: { envoy_grpc: { cluster_name: XDS_CLUSTER }, timeout: duration(2_000) },
      failure_mode_allow: false,
      processing_mode: SKIP_ALL,
      message_timeout: duration(2_000),
      stat_prefix: 'mcpmesh_list_filter',
      // Only what the filter reads: the token (Authorization) never leaves Envoy.
      forward_rules: { allowed_headers: { patterns: [{ exact: ':path' }, { exact: 'content-type' }] } },
      // The verified claims and the body's method, for the rules; back, the URI
      // a refused subscriptions/listen names, for the 403's message (agent-auth.ts).
      metadata_options: {
        forwarding_namespaces: { untyped: [JWT_FILTER, ROUTE_KEY_NAMESPACE] },
        receiving_namespaces: { untyped: [ROUTE_KEY_NAMESPACE] },
      },
    },
  };
}

/**
 * The server a request is for (`/mcp/NAME`) as dynamic metadata
 * (`mcpmesh.server`), for the list filter, which then needs no headers and
 * one message per answer.
 */
export function serverNameFilter(): object {
  return {
    name: 'envoy.filters.http.header_to_metadata',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config',
      request_rules: [
        {
          header: ':path',
          on_header_present: {
            metadata_namespace: ROUTE_KEY_NAMESPACE,
            key: 'server',
            regex_value_rewrite: { pattern: { regex: '^/mcp/([^/?#]+).*$' }, substitution: '\\1' },
            type: 'STRING',
          },
        },
      ],
    },
  };
}

/**
 * A route's per-filter configs with the list filter turned on where it must
 * be. Envoy creates a request's filters from the route its headers match,
 * before json_to_metadata has read the body; a route that matches only on
 * body keys (a positive dynamic-metadata matcher) is never that route, so it
 * needs nothing unless it has an override of its own (the list, listen and
 * default routes). Every other route turns the filter on with the listener's
 * skip-everything mode, so whatever route the body then picks, the filter is
 * there; every request under the server's path matches one of those (its
 * default route takes the whole prefix). A tool call then runs the listener's
 * mode, with no override to merge.
 */
export function listFilterOn(match: object, perFilter: Readonly<Record<string, object>>): Record<string, object> {
  const own = perFilter[EXT_PROC_FILTER];
  const bodyKeys = ((match as { dynamic_metadata?: { invert?: boolean }[] }).dynamic_metadata ?? []).some((m) => m.invert !== true);
  if (own === undefined && bodyKeys) return { ...perFilter };
  return { ...perFilter, [EXT_PROC_FILTER]: filterOn(own ?? processingOverride(SKIP_ALL)) };
}

function processingOverride(processingMode: object): object {
  return {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute',
    overrides: { processing_mode: processingMode },
  };
}

/** Whether a server's list answers are filtered: it has rules. */
export function filtersLists(auth: CatalogAuth): boolean {
  return auth.mode === 'jwt' && auth.rules !== undefined;
}

/** The list routes' ext_proc override: the request's headers, then the answer's headers and whole body. */
export function listRouteExtProc(): Record<string, object> {
  // One message per list answer: its whole body, with the claims, the
  // method and the server (serverNameFilter) as metadata.
  return { [EXT_PROC_FILTER]: processingOverride({ ...SKIP_ALL, response_body_mode: 'BUFFERED' }) };
}

/**
 * The default route of a server with rules (POSTs whose body names no
 * method): the request body goes to the control plane, which refuses a
 * JSON-RPC batch (json_to_metadata reads no method out of a top-level array,
 * so nothing else can check its calls).
 */
export function defaultRouteExtProc(): Record<string, object> {
  return { [EXT_PROC_FILTER]: processingOverride({ ...SKIP_ALL, request_header_mode: 'SEND', request_body_mode: 'BUFFERED' }) };
}

/**
 * The subscriptions/listen route of a server with rules: the request body
 * goes to the control plane, which checks every URI the listen subscribes to
 * against the resource rules (list-filter/listen-check.ts); RBAC cannot look
 * inside the body's list.
 */
export function listenRouteExtProc(): Record<string, object> {
  return defaultRouteExtProc();
}

/** A list method in the body. */
export function listMatch(pathPrefix: string): object {
  return {
    path_separated_prefix: pathPrefix,
    dynamic_metadata: [
      {
        filter: ROUTE_KEY_NAMESPACE,
        path: [{ key: 'method' }],
        value: { string_match: { safe_regex: { regex: LIST_METHODS.join('|') } } },
      },
    ],
  };
}
