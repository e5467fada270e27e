// Where a CPU's idle time goes on a multi-stage path: reads `perf sched timehist -I`
// (one line per context switch, per CPU) and says, for every stretch a CPU spent idle,
// which process ran meanwhile on the other CPUs. On a closed-loop path with every call
// in flight somewhere, idle beside one busy process means the calls were all queued at
// that process: the stages take turns instead of overlapping.
//
// Run: perf sched record -o sched.data -- sleep 3   (while a load runs)
//      perf sched timehist -i sched.data -I > timehist.txt
//      node dist/bench/gateway/idle-overlap.js timehist.txt NAME=PID ...
// A thread counts under its process (tid/pid); PIDs not named are listed by comm[pid].

import { readFileSync } from 'node:fs';

interface Slice {
  readonly start: number;
  readonly end: number;
  readonly who: string;
}

const [file, ...named] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: idle-overlap.js TIMEHIST_FILE [NAME=PID ...]');
const names = new Map<string, string>();
for (const n of named) {
  const [name, pid] = n.split('=');
  if (name === undefined || pid === undefined || !/^\d+$/.test(pid)) throw new Error(`not NAME=PID: ${n}`);
  names.set(pid, name);
}

// "   35868.391284 [0000]  node[22196/22184]   0.000  0.000  0.317": the time is when the task left the CPU.
const LINE = /^\s*(\d+\.\d+)\s+\[(\d+)\]\s+(.+?)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s*$/;
const ends = new Map<number, Array<{ t: number; who: string }>>();
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const m = LINE.exec(line);
  if (m === null) continue;
  const task = m[3]!;
  const pid = /\[(?:\d+\/)?(\d+)\]$/.exec(task)?.[1];
  const who = task === '<idle>' ? 'idle' : pid !== undefined && names.has(pid) ? names.get(pid)! : task;
  const cpu = Number(m[2]);
  const list = ends.get(cpu) ?? [];
  list.push({ t: Number(m[1]), who });
  ends.set(cpu, list);
}
// A task's slice runs from the previous switch on its CPU to its own.
const slices = new Map<number, Slice[]>();
for (const [cpu, list] of ends) {
  list.sort((a, b) => a.t - b.t);
  slices.set(
    cpu,
    list.slice(1).map((e, i) => ({ start: list[i]!.t, end: e.t, who: e.who })),
  );
}

const busy = new Map<string, number>();
const besideIdle = new Map<string, number>();
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
let idlePeriods = 0;
const idleLengths: number[] = [];
for (const [cpu, mine] of slices) {
  for (const s of mine) {
    add(busy, s.who, s.end - s.start);
    if (s.who !== 'idle') continue;
    idlePeriods++;
    idleLengths.push(s.end - s.start);
    for (const [other, theirs] of slices) {
      if (other === cpu) continue;
      for (const o of theirs) {
        if (o.end <= s.start) continue;
        if (o.start >= s.end) break;
        add(besideIdle, o.who, Math.min(s.end, o.end) - Math.max(s.start, o.start));
      }
    }
  }
}
idleLengths.sort((a, b) => a - b);
const q = (p: number) => ((idleLengths[Math.floor(p * (idleLengths.length - 1))] ?? 0) * 1000).toFixed(3);
const total = [...busy.values()].reduce((a, b) => a + b, 0);
const row = (m: Map<string, number>) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => `${k} ${((100 * v) / total).toFixed(1)}%`)
    .join(', ');
process.stdout.write(`CPU time (share of all CPUs' time): ${row(busy)}\n`);
process.stdout.write(`idle stretches: ${idlePeriods}, length p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms\n`);
process.stdout.write(`while a CPU is idle, the other runs (share of all CPUs' time): ${row(besideIdle)}\n`);
