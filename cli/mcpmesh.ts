#!/usr/bin/env node
// mcpmesh: one binary, one subcommand per part of the mesh.
import { packageVersion } from '../lib/package-version.js';
import { UsageError } from './flags.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  up: { summary: 'run the whole mesh on one machine from a config file', load: async () => (await import('./commands/up.js')).upCommand },
  'control-plane': {
    summary: 'run the xDS control plane (file or Consul source)',
    load: async () => (await import('./commands/control-plane.js')).controlPlaneCommand,
  },
  adapter: {
    summary: 'serve a stdio MCP server as a pooled Streamable HTTP upstream',
    load: async () => (await import('./commands/adapter.js')).adapterCommand,
  },
  'envoy-bootstrap': {
    summary: "print Envoy's bootstrap YAML",
    load: async () => (await import('./commands/envoy-bootstrap.js')).envoyBootstrapCommand,
  },
  'dev-ca': {
    summary: 'make a development CA and mesh certificates (openssl)',
    load: async () => (await import('./commands/dev-ca.js')).devCaCommand,
  },
};

function help(): string {
  const lines = ['Usage: mcpmesh <command> [options]', '       mcpmesh --version | --help', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(18)}${c.summary}`);
  lines.push('', "Run 'mcpmesh <command> --help' for a command's options. Every --flag can also be set as MCPMESH_FLAG.");
  return `${lines.join('\n')}\n`;
}

// Conventions: asked-for output (help, version) goes to stdout with exit 0;
// usage errors, a missing command included, go to stderr with exit 2.
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`mcpmesh: a command is required\n\n${help()}`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined) return main([rest[0], '--help']);
    process.stdout.write(help());
    return 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`mcpmesh: unknown ${name.startsWith('-') ? 'option' : 'command'} "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mcpmesh ${name}: ${err.message}\nRun 'mcpmesh ${name} --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`mcpmesh ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mcpmesh: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
