// The default ports of DESIGN.md's contracts, in one place for the CLI,
// the bootstrap, the config file and docker-compose checks.
export const DEFAULT_PORTS = {
  envoyEgress: 10000,
  envoyAdmin: 9901,
  xds: 18000,
  adminApi: 9900,
} as const;

/** First port `mcpmesh up` gives adapters of stdio servers that name none. */
export const DEFAULT_ADAPTER_BASE_PORT = 17100;
