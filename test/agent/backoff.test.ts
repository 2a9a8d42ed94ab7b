// agent/backoff.ts: delays stay inside [min, min*2^n] capped at max, for every random draw.
import t from 'tap';
import { backoffDelay } from '../../agent/backoff.js';

const p = { minMillis: 100, maxMillis: 10_000 };
const cases: Array<[string, number, number, number]> = [
  ['first attempt, lowest draw', 0, 0, 100],
  ['first attempt, highest draw', 0, 1, 100],
  ['second attempt, mid draw', 1, 0.5, 150],
  ['third attempt, top draw', 2, 1, 400],
  ['capped at max', 20, 1, 10_000],
  ['capped, lowest draw is min', 20, 0, 100],
  ['huge attempt stays finite', 1e6, 0.5, 5050],
  ['negative attempt is attempt 0', -3, 1, 100],
  ['draw above 1 clamps', 3, 7, 800],
];
for (const [name, attempt, random, want] of cases) {
  t.equal(backoffDelay(p, attempt, random), want, name);
}

void t.test('max below min behaves as min', async (t) => {
  t.equal(backoffDelay({ minMillis: 500, maxMillis: 10 }, 5, 1), 500);
});

void t.test('factor 3', async (t) => {
  t.equal(backoffDelay({ minMillis: 10, maxMillis: 1000, factor: 3 }, 2, 1), 90);
});
