// File sink: JSON lines appended; an unwritable path is a failed send, not an exception.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileSink } from '../../../collector/alerts/file.js';
import { finding } from './helpers.js';

t.test('appends one JSON line per finding', async (t) => {
  const p = join(t.testdir(), 'alerts.jsonl');
  const sink = createFileSink({ path: p });
  await sink.send(finding());
  await sink.send(finding({ ruleId: 'x' }));
  const lines = readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { ruleId: string });
  t.same(lines.map((l) => l.ruleId), ['runner-memory-read', 'x']);
});

t.test('a directory that does not exist fails with its code', async (t) => {
  const res = await createFileSink({ path: join(t.testdir(), 'nope', 'a.jsonl') }).send(finding());
  t.same(res, { status: 'failed', error: 'ENOENT' });
});
