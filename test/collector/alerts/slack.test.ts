// Slack-compatible sink: {text, blocks} received by a real HTTP server; mrkdwn escaping.
import t from 'tap';
import { createSlackSink, slackMessage } from '../../../collector/alerts/slack.js';
import { finding, receiver } from './helpers.js';

t.test('posts {text, blocks}', async (t) => {
  const r = await receiver();
  t.teardown(r.close);
  t.same(await createSlackSink({ url: r.url }).send(finding()), { status: 'ok' });
  const body = JSON.parse(r.got[0]!.body) as { text: string; blocks: { type: string }[] };
  t.match(body.text, /^CRITICAL Memory of another process/);
  t.same(body.blocks.map((b) => b.type), ['header', 'section', 'context', 'section']);
});

t.test('escapes mrkdwn control characters', async (t) => {
  const m = slackMessage(finding({ explanation: 'a <b> & c' }));
  t.match(JSON.stringify(m.blocks[1]), /a &lt;b&gt; &amp; c/);
});
