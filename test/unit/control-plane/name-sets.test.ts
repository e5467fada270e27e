import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NameSets } from '../../../control-plane/xds/name-sets.js';

test('equal subscriptions share one set; different ones do not', () => {
  const sets = new NameSets();
  const a = sets.intern(['mcp_a', 'mcp_b']);
  const b = sets.intern(['mcp_a', 'mcp_b'].map((n) => `${n}`));
  const c = sets.intern(new Set(['mcp_a']));
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.deepEqual([...a], ['mcp_a', 'mcp_b']);
  assert.equal(sets.size, 2);
});
