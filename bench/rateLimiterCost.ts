/**
 * Scenario 9: what the per-token rate limit of the create routes (server/rateLimit.ts) costs per request: one
 * TokenBuckets.take() per create call, timed over BENCH_RATE_LIMIT_CHECKS calls (1,000,000) for one hot token,
 * for 10,000 tokens in turn (a map lookup that misses the CPU cache more), and for a token that is refused
 * (the 429 path). No database: the limiter is in-process. Alone: `node -r @swc-node/register bench/rateLimiterCost.ts`.
 */
import { TokenBuckets } from '../server/rateLimit';
import type { ScenarioReport } from './lib/report';

const SCENARIO = '12 rate limiter';
const CHECKS = Number(process.env.BENCH_RATE_LIMIT_CHECKS) || 1_000_000;
/** A create call costs ~1 ms on this kind of machine (scenario 1): the limiter should stay far below 1 % of it. */
const TARGET_NS = 1_000;

/** ns per take() over `checks` calls; the clock is read once per 1,000 calls, as a busy server's would move. */
function timeChecks(buckets: TokenBuckets, keys: number, checks: number): { nsPerCheck: number; refused: number } {
  let refused = 0;
  let now = performance.now();
  const start = process.hrtime.bigint();
  for (let i = 0; i < checks; i += 1) {
    if (i % 1000 === 0) now = performance.now();
    if (buckets.take(i % keys, now) > 0) refused += 1;
  }
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return { nsPerCheck: elapsedNs / checks, refused };
}

export function runRateLimiterCost(): Promise<ScenarioReport> {
  const cases = [
    { label: 'one token, allowed', buckets: new TokenBuckets(1e12, 1e12), keys: 1 },
    { label: '10,000 tokens in turn, allowed', buckets: new TokenBuckets(1e12, 1e12), keys: 10_000 },
    { label: 'one token, refused (429 path)', buckets: new TokenBuckets(0.001, 1), keys: 1 },
  ];
  const report: ScenarioReport = { rows: [], notes: [] };
  for (const testCase of cases) {
    timeChecks(testCase.buckets, testCase.keys, Math.min(CHECKS, 100_000)); // warm-up: JIT, map filled
    const { nsPerCheck, refused } = timeChecks(testCase.buckets, testCase.keys, CHECKS);
    report.rows.push({
      scenario: SCENARIO,
      metric: `TokenBuckets.take(), ${testCase.label}`,
      value: `${nsPerCheck.toFixed(0)} ns (${(nsPerCheck / 1000).toFixed(3)} µs) per check over ${CHECKS.toLocaleString('en-US')}${refused > 0 ? `, ${refused.toLocaleString('en-US')} refused` : ''}`,
      target: `≤ ${TARGET_NS} ns`,
      met: nsPerCheck <= TARGET_NS,
    });
  }
  report.notes.push(`${SCENARIO}: one check per create call, in the process that answers it (no database round trip, no lock).`);
  return Promise.resolve(report);
}

if (require.main === module) {
  void runRateLimiterCost().then((report) => {
    for (const row of report.rows) console.log(`${row.metric}: ${row.value} (target ${row.target}: ${row.met ? 'met' : 'MISSED'})`);
  });
}
