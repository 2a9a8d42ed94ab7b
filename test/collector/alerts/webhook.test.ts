// Webhook sink against a real HTTP receiver: body, HMAC signature that verifies, status mapping.
import t from 'tap';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createWebhookSink, signBody } from '../../../collector/alerts/webhook.js';
import { finding, receiver } from './helpers.js';

t.test('POSTs the finding with a signature the receiver can verify', async (t) => {
  const r = await receiver();
  t.teardown(r.close);
  const sink = createWebhookSink({ url: r.url, secret: 's3cret-key' });
  t.same(await sink.send(finding()), { status: 'ok' });
  t.equal(r.got.length, 1);
  const got = r.got[0]!;
  const expected = 'sha256=' + createHmac('sha256', 's3cret-key').update(got.body).digest('hex');
  const header = String(got.headers['x-runwarden-signature']);
  t.ok(timingSafeEqual(Buffer.from(header), Buffer.from(expected)), 'signature verifies over the exact body');
  t.equal(got.headers['content-type'], 'application/json');
  const body = JSON.parse(got.body) as Record<string, unknown>;
  t.match(body, { version: 1, type: 'runwarden.finding', ruleId: 'runner-memory-read', severity: 'critical', jobId: 'job-1' });
  t.not(signBody('other', got.body), header, 'a different secret gives a different signature');
});

t.test('no secret configured: no signature header', async (t) => {
  const r = await receiver();
  t.teardown(r.close);
  await createWebhookSink({ url: r.url }).send(finding());
  t.equal(r.got[0]!.headers['x-runwarden-signature'], undefined);
});

t.test('status mapping', async (t) => {
  for (const [code, status] of [[500, 'retryable'], [503, 'retryable'], [429, 'retryable'], [404, 'failed'], [400, 'failed'], [204, 'ok']] as const) {
    const r = await receiver(() => code);
    const res = await createWebhookSink({ url: r.url }).send(finding());
    t.equal(res.status, status, `HTTP ${code} → ${status}`);
    await r.close();
  }
});

t.test('receiver down: retryable with the error code, never the URL', async (t) => {
  const r = await receiver();
  const url = r.url + '?token=abc';
  await r.close();
  const res = await createWebhookSink({ url }).send(finding());
  t.equal(res.status, 'retryable');
  t.notMatch(JSON.stringify(res), /token=abc/);
});
