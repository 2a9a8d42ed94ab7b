// The dispatcher with real HTTP receivers: retries until a down receiver comes up, never blocks submit,
// and counts what it drops (severity, duplicates, rate limit, full queue, permanent failure).
import t from 'tap';
import { createAlertDispatcher } from '../../../collector/alerts/dispatcher.js';
import type { AlertSink, SendResult } from '../../../collector/alerts/sink.js';
import { createWebhookSink } from '../../../collector/alerts/webhook.js';
import { finding, receiver } from './helpers.js';

const fast = { minBackoffMillis: 20, maxBackoffMillis: 80, maxAttempts: 50 };

t.test('receiver down: retries, then delivers once it comes up', async (t) => {
  const probe = await receiver();
  const port = probe.port;
  await probe.close();
  const d = createAlertDispatcher({
    sinks: [{ sink: createWebhookSink({ url: `http://127.0.0.1:${port}/hook`, secret: 'k' }), minSeverity: 'medium', maxPerMinute: 60 }],
    now: () => Date.now(), limits: fast,
  });
  t.teardown(() => d.close());
  const t0 = Date.now();
  d.submit([finding()]);
  t.ok(Date.now() - t0 < 50, 'submit returns at once');
  await new Promise((r) => setTimeout(r, 150));
  t.ok(d.stats()['webhook']!.retries >= 1, 'retried while down');
  const up = await receiver(() => 200, port);
  t.teardown(up.close);
  t.equal(await d.flush(Date.now() + 5000), true, 'drained');
  t.equal(up.got.length, 1, 'delivered exactly once');
  t.match(d.stats()['webhook'], { sent: 1, failed: 0, queued: 0 });
});

t.test('minimum severity, dedupe per (job, rule), escalation passes', async (t) => {
  const r = await receiver();
  t.teardown(r.close);
  const d = createAlertDispatcher({ sinks: [{ sink: createWebhookSink({ url: r.url }), minSeverity: 'high', maxPerMinute: 100 }], now: () => Date.now() });
  t.teardown(() => d.close());
  d.submit([
    finding({ severity: 'medium', ruleId: 'a' }),
    finding({ severity: 'high', ruleId: 'b' }),
    finding({ severity: 'high', ruleId: 'b' }),
    finding({ severity: 'critical', ruleId: 'b' }),
    finding({ severity: 'high', ruleId: 'b', jobId: 'job-2' }),
  ]);
  await d.flush(Date.now() + 5000);
  t.equal(r.got.length, 3);
  t.match(d.stats()['webhook'], { sent: 3, belowSeverity: 1, duplicates: 1 });
});

t.test('rate limit per minute, with drops counted', async (t) => {
  let now = 0;
  const pending: (() => void)[] = [];
  const stuck: AlertSink = { name: 'stuck', send: () => new Promise<SendResult>((r) => { pending.push(() => r({ status: 'ok' })); }) };
  const d = createAlertDispatcher({ sinks: [{ sink: stuck, minSeverity: 'info', maxPerMinute: 5 }], now: () => now, limits: { maxQueue: 100 } });
  d.submit([1, 2, 3, 4, 5, 6].map((i) => finding({ ruleId: `r${i}` })));
  t.match(d.stats()['stuck'], { queued: 5, droppedRateLimited: 1 });
  now = 61_000;
  d.submit([finding({ ruleId: 'r7' })]);
  t.match(d.stats()['stuck'], { queued: 6, droppedRateLimited: 1 }, 'a new minute admits again');
  d.close();
  d.close();
  for (const p of pending) p();
});

t.test('bounded queue: a stuck sink drops what does not fit, submit still returns', async (t) => {
  const pending: (() => void)[] = [];
  const stuck: AlertSink = { name: 'stuck', send: () => new Promise<SendResult>((r) => { pending.push(() => r({ status: 'ok' })); }) };
  const d = createAlertDispatcher({ sinks: [{ sink: stuck, minSeverity: 'info', maxPerMinute: 0 }], now: () => 0, limits: { maxQueue: 3 } });
  d.submit([1, 2, 3, 4, 5].map((i) => finding({ ruleId: `r${i}` })));
  t.match(d.stats()['stuck'], { queued: 3, droppedQueueFull: 2 });
  t.equal(await d.flush(-1), false, 'flush past its deadline reports not drained');
  d.close();
  for (const p of pending) p();
});

t.test('permanent failure and thrown errors drop the item and move on', async (t) => {
  let calls = 0;
  const flaky: AlertSink = {
    name: 'flaky',
    send: () => { calls++; if (calls === 1) throw new Error('boom'); return Promise.resolve(calls === 2 ? { status: 'failed', error: 'HTTP 400' } : { status: 'ok' }); },
  };
  const errors: string[] = [];
  const d = createAlertDispatcher({ sinks: [{ sink: flaky, minSeverity: 'info', maxPerMinute: 0 }], now: () => Date.now(), onError: (_s, e) => errors.push(e) });
  d.submit([finding({ ruleId: 'a' }), finding({ ruleId: 'b' }), finding({ ruleId: 'c' })]);
  t.equal(await d.flush(Date.now() + 2000), true);
  t.match(d.stats()['flaky'], { sent: 1, failed: 2 });
  t.same(errors, ['boom', 'HTTP 400']);
  d.close();
});

t.test('gives up after maxAttempts', async (t) => {
  const always: AlertSink = { name: 'down', send: () => Promise.resolve({ status: 'retryable', error: 'ECONNREFUSED' }) };
  const d = createAlertDispatcher({ sinks: [{ sink: always, minSeverity: 'info', maxPerMinute: 0 }], now: () => Date.now(), limits: { minBackoffMillis: 1, maxBackoffMillis: 2, maxAttempts: 3 } });
  d.submit([finding()]);
  t.equal(await d.flush(Date.now() + 2000), true);
  t.match(d.stats()['down'], { retries: 2, failed: 1, sent: 0, lastError: 'ECONNREFUSED' });
  d.close();
});
