// One pino logger per process, JSON to stderr so stdout stays free for
// machine-readable output (agent URLs, bootstrap YAML).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(component: string, level = process.env['MCPMESH_LOG_LEVEL'] ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { component },
      // Bearer tokens and session ids are credentials; never write them out.
      redact: { paths: ['token', 'authorization', 'headers.authorization', '*.authorization'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}

/**
 * How a process's command line is logged, everywhere: its executable (argv[0]
 * as given) and how many arguments follow, never the arguments themselves
 * (they may carry tokens or passwords). Environment values are never logged.
 */
export function loggableCommand(argv: readonly string[]): { command: string | undefined; args: number } {
  return { command: argv[0], args: Math.max(0, argv.length - 1) };
}
