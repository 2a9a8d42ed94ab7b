// agent/sensors/procfs.ts: a long-lived process is seen with argv and parent, its exit too; a short one is not.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createProcfsSensor } from '../../../agent/sensors/procfs.js';
import type { SensorEvent } from '../../../agent/sensors/types.js';
import { ofKind, run, waitFor } from './helpers.js';

t.test('polls exec and exit; says it is degraded', async (t) => {
  const s = createProcfsSensor({ intervalMillis: 50 });
  const evs: SensorEvent[] = [];
  s.onEvent((e) => evs.push(e));
  await s.start();
  t.teardown(() => s.close());
  t.match(s.status(), { sensor: 'procfs', running: true, message: /DEGRADED/ });
  t.ok(s.status().blindSpots.some((b) => /short/.test(b)));
  const c = spawn('sleep', ['0.7'], { stdio: 'ignore' });
  const closed = new Promise((r) => c.on('close', r));
  await waitFor(() => ofKind(evs, 'exec').some((e) => e.pid === c.pid && e.comm === 'sleep'));
  t.match(ofKind(evs, 'exec').find((e) => e.pid === c.pid && e.comm === 'sleep'), { ppid: process.pid, comm: 'sleep', exe: /sleep$/, exec: { argv: ['sleep', '0.7'] } });
  await closed;
  await waitFor(() => ofKind(evs, 'exit').some((e) => e.pid === c.pid));
  t.ok(ofKind(evs, 'exit').some((e) => e.pid === c.pid), 'exit seen');
  const quick = await run('/bin/true', ['procfs-too-short']);
  await new Promise((r) => setTimeout(r, 120));
  await s.close();
  t.notOk(ofKind(evs, 'exec').some((e) => e.pid === quick.pid && e.exec.argv?.includes('procfs-too-short')), 'a short-lived process is missed (declared blind spot)');
  t.equal(s.status().running, false);
});
