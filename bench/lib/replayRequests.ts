/**
 * A child process of bench/dashboardLoad.ts: sends again, from a plain HTTP client (no browser), the requests
 * the tabs made (REPLAY_FILE, written by dashboardTabs.ts) on REPLAY_URL, each at its recorded time from the
 * start (once it printed `ready`), over and over, until SIGUSR2; then prints `{"requests": N, "failed": F}` and exits. Open loop, as the
 * tabs' requests are at that rate: a slow answer does not delay the next request. Each answer is read to its end.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { RecordedRequest } from './dashboardTabs';

async function main(): Promise<void> {
  const base = new URL(process.env.REPLAY_URL!);
  const recorded = fs
    .readFileSync(process.env.REPLAY_FILE!, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as RecordedRequest);
  if (recorded.length === 0) throw new Error('nothing recorded');
  // One cycle: the recording's length, plus the mean gap so the first request does not land on the last.
  const cycleMs = recorded[recorded.length - 1].t + recorded[recorded.length - 1].t / recorded.length;
  // A browser keeps up to 6 connections per origin for each tab's requests.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 6 * 5 });
  let stop = false;
  let sent = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  process.once('SIGUSR2', () => (stop = true));
  const send = (entry: RecordedRequest) =>
    new Promise<void>((resolve) => {
      const req = http.request({ agent, host: base.hostname, port: base.port, method: entry.method, path: entry.path, headers: entry.headers }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          if (res.statusCode === undefined || res.statusCode >= 400) failed += 1;
          resolve();
        });
        res.on('error', () => {
          failed += 1;
          resolve();
        });
      });
      req.on('error', () => {
        failed += 1;
        resolve();
      });
      req.end();
    });
  process.stdout.write('ready\n');
  const started = performance.now();
  for (let cycle = 0; !stop; cycle += 1) {
    for (const entry of recorded) {
      const due = started + cycle * cycleMs + entry.t;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (stop) break;
      sent += 1;
      const pending = send(entry).finally(() => inFlight.delete(pending));
      inFlight.add(pending);
    }
  }
  await Promise.all(inFlight);
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ requests: sent, failed })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
