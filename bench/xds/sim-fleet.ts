// A fleet of simulated Envoys in a process of its own, so that the control
// plane's CPU and memory are measured alone. Prints "ready" once started.
//   node dist/bench/xds/sim-fleet.js --address 127.0.0.1:18000 --count 1000 [--delta]
import { parseArgs } from 'node:util';
import { SimAdsClient } from '../../test/support/sim-ads-client.js';

const { values } = parseArgs({
  options: { address: { type: 'string' }, count: { type: 'string', default: '100' }, delta: { type: 'boolean', default: false } },
});
const clients: SimAdsClient[] = [];
for (let i = 0; i < Number(values.count); i++) {
  const c = new SimAdsClient({ address: values.address!, nodeId: `sim-${i}`, delta: values.delta ?? false, trackNames: false });
  c.start();
  clients.push(c);
  // Stagger connects a little, as a fleet would.
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const c of clients) c.close();
  process.exit(0);
});
