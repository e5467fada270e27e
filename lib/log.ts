// One pino logger per process, to stderr so stdout stays free for
// machine-readable output (agent URLs, bootstrap YAML): JSON lines, or
// human-readable lines (pino-pretty) when stderr is a terminal.
// MCPMESH_LOG_FORMAT=json|pretty overrides the choice.
//
// A component's logger is made with componentLogger(parent, 'name'), which
// nests the name into the one `component` field ("up/control-plane/file-source"):
// pino appends a child's bindings to its parent's, so child({ component })
// would write the key once per level.
import { type Bindings, type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

const COMPONENT = Symbol('mcpmesh.log.component');
type Tagged = Logger & { [COMPONENT]?: string };

/** Human-readable lines (pino-pretty) on a terminal, JSON lines elsewhere. */
export function prettyLogs(env: NodeJS.ProcessEnv = process.env, tty = process.stderr.isTTY === true): boolean {
  const format = env['MCPMESH_LOG_FORMAT'];
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return tty;
}

/** `destination`: where JSON lines go instead of stderr (tests). */
export function createLogger(
  component: string,
  level = process.env['MCPMESH_LOG_LEVEL'] ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: {},
    // The component path is the logger's own (componentLogger), written once.
    mixin: (_merge: object, _level: number, logger: Logger) => ({ component: (logger as Tagged)[COMPONENT] }),
    // Bearer tokens and session ids are credentials; never write them out.
    redact: { paths: ['token', 'authorization', 'headers.authorization', '*.authorization'], censor: '[redacted]' },
  };
  const logger: Tagged =
    destination !== undefined
      ? pino(options, destination)
      : prettyLogs()
        ? pino(
            options,
            pretty({
              destination: 2,
              sync: true,
              colorize: true,
              translateTime: 'SYS:HH:MM:ss.l',
              singleLine: true,
              messageFormat: '{if component}{component}: {end}{msg}',
              ignore: 'pid,hostname,component',
            }),
          )
        : pino(options, pino.destination(2));
  logger[COMPONENT] = component;
  return logger;
}

/**
 * A child logger for a part of `parent`'s component: its `component` field is
 * the parent's path plus `/name`. Loggers not made by createLogger (tests' own
 * pino instances) get the name as a plain binding.
 */
export function componentLogger(parent: Logger, name: string, bindings: Bindings = {}): Logger {
  const path = (parent as Tagged)[COMPONENT];
  if (path === undefined) return parent.child({ ...bindings, component: name });
  const child: Tagged = parent.child(bindings);
  child[COMPONENT] = `${path}/${name}`;
  return child;
}

/**
 * How a process's command line is logged, everywhere: its executable (argv[0]
 * as given) and how many arguments follow, never the arguments themselves
 * (they may carry tokens or passwords). Environment values are never logged.
 */
export function loggableCommand(argv: readonly string[]): { command: string | undefined; args: number } {
  return { command: argv[0], args: Math.max(0, argv.length - 1) };
}
