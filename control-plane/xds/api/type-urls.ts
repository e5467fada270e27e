// The resource types this control plane serves, by the type URL the xDS
// protocol names them with. A leaf: the Envoy translation and the xDS server
// both depend on it, and it depends on neither.

export const TYPE = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;

export type TypeUrl = (typeof TYPE)[keyof typeof TYPE];
