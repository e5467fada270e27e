// An OOM kill told from a kill from outside: the kernel's count, read from
// the cgroup files of either cgroup version (or the host's), one count per
// SIGKILL exit, and counts from before a process started are not its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OomKills, oomCountFiles, parseOomKills, systemOomCount } from '../../../adapter/pool/oom-kills.js';

test('the oom_kill count of memory.events (v2), memory.oom_control (v1) and /proc/vmstat', () => {
  assert.equal(parseOomKills('low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n'), 2);
  assert.equal(parseOomKills('oom_kill_disable 0\nunder_oom 0\noom_kill 7\n'), 7);
  assert.equal(parseOomKills('pgfault 1\noom_kill 0\n'), 0);
  assert.equal(parseOomKills('oom_kill_disable 0\nunder_oom 0\n'), undefined);
});

test('where to read it: this process cgroup first, then the roots, then the host', () => {
  assert.deepEqual(oomCountFiles('0::/system.slice/mcp.service\n', '/cg'), [
    '/cg/system.slice/mcp.service/memory.events',
    '/cg/memory.events',
    '/cg/memory/memory.oom_control',
    '/proc/vmstat',
  ]);
  assert.deepEqual(oomCountFiles('4:memory:/docker/abc\n1:cpu:/\n0::/\n', '/cg'), [
    '/cg/memory/docker/abc/memory.oom_control',
    '/cg/memory.events',
    '/cg/memory/memory.oom_control',
    '/proc/vmstat',
  ]);
  assert.ok(!oomCountFiles('0::/../../etc\n', '/cg').some((f) => f.includes('..')));
  // On this host: some count, or none at all, never an error.
  const n = systemOomCount()();
  assert.ok(n === undefined || Number.isSafeInteger(n));
});

test('one count per SIGKILL exit; counts from before a process started are not its own', () => {
  let count = 3;
  const oom = new OomKills(() => count);
  assert.equal(oom.killedThisOne(), false, 'a SIGKILL with no OOM kill: from outside');
  count = 5;
  assert.equal(oom.killedThisOne(), true);
  assert.equal(oom.killedThisOne(), true, 'two processes killed at once');
  assert.equal(oom.killedThisOne(), false);
  count = 6;
  oom.resync();
  assert.equal(oom.killedThisOne(), false, 'a sibling killed before this process started');
  const none = new OomKills(() => undefined);
  assert.equal(none.killedThisOne(), false);
});
