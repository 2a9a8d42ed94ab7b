// Backoff delays: bounds per attempt, cap, jitter from the injected random source.
import t from 'tap';
import { backoffMillis } from '../../../collector/alerts/backoff.js';

const P = { minMillis: 100, maxMillis: 1000 };
const cases: [number, number, number][] = [
  // attempt, random, expected
  [1, 0, 100], [1, 1, 100], [2, 1, 200], [3, 1, 400], [4, 0.5, 450], [5, 1, 1000], [30, 1, 1000], [3, 0, 100],
];
for (const [attempt, rnd, want] of cases) {
  t.equal(backoffMillis(attempt, P, () => rnd), want, `attempt ${attempt}, random ${rnd}`);
}
