import assert from 'node:assert/strict';
import { test } from 'node:test';
import { componentLogger, createLogger, prettyLogs } from '../../../lib/log.js';

function capture(): { lines: string[]; stream: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s.trimEnd()) } };
}

test('nested component loggers write one component key, the path of the components', () => {
  const out = capture();
  const up = createLogger('up', 'info', out.stream);
  const fileSource = componentLogger(componentLogger(up, 'control-plane'), 'file-source', { file: 'mcpmesh.yaml' });
  fileSource.info({ servers: 2 }, 'loaded');
  up.info('top');
  const [line, top] = out.lines;
  assert.equal(line!.match(/"component":/g)?.length, 1, line);
  const parsed = JSON.parse(line!) as Record<string, unknown>;
  assert.equal(parsed['component'], 'up/control-plane/file-source');
  assert.equal(parsed['file'], 'mcpmesh.yaml');
  assert.equal(parsed['servers'], 2);
  assert.equal((JSON.parse(top!) as Record<string, unknown>)['component'], 'up');
});

test('a child with other bindings keeps its component', () => {
  const out = capture();
  const log = componentLogger(createLogger('adapter', 'info', out.stream), 'pool').child({ server: 'notes' });
  log.warn('x');
  const parsed = JSON.parse(out.lines[0]!) as Record<string, unknown>;
  assert.equal(parsed['component'], 'adapter/pool');
  assert.equal(parsed['server'], 'notes');
  assert.equal(out.lines[0]!.match(/"component":/g)?.length, 1);
});

test('pretty lines on a terminal, JSON elsewhere; MCPMESH_LOG_FORMAT decides when set', () => {
  assert.equal(prettyLogs({}, true), true);
  assert.equal(prettyLogs({}, false), false);
  assert.equal(prettyLogs({ MCPMESH_LOG_FORMAT: 'json' }, true), false);
  assert.equal(prettyLogs({ MCPMESH_LOG_FORMAT: 'pretty' }, false), true);
});
