/** Fire times: node-cron's matcher after any date, every on epoch multiples, what a due schedule fires after an outage. */
import cron from 'node-cron';
import { isoInTimeZone, latestFireTime, MISSED_AFTER_MS, nextFireTimeOf, planFiring, upcomingFireTimes } from '../../server/schedules/fireTimes';

test.each([
  ['*/5 * * * *', 'UTC'],
  ['30 9 * * 1-5', 'America/New_York'],
  ['0 0 L * *', 'Europe/Paris'],
  ['*/10 * * * * *', 'Asia/Kolkata'],
])("%s in %s: the times after now are node-cron's own getNextRuns", async (expression, timezone) => {
  const task = cron.createTask(expression, () => undefined, { timezone });
  const expected = task.getNextRuns(6).map((date) => date.getTime());
  await task.destroy();
  const next = nextFireTimeOf({ cron: expression, timezone })!;
  const mine = upcomingFireTimes(next, new Date(), 6).map((date) => date.getTime());
  // getNextRuns started a moment earlier: at most its first time has passed since.
  expect(mine[0] === expected[0] ? mine : [expected[0], ...mine.slice(0, 5)]).toEqual(expected);
});

test('every: whole multiples of the period since the epoch, strictly after the date', () => {
  const next = nextFireTimeOf({ every: '30s' })!;
  expect(next(new Date('2026-12-02T10:00:00.000Z')).toISOString()).toBe('2026-12-02T10:00:30.000Z');
  expect(next(new Date('2026-12-02T10:00:29.999Z')).toISOString()).toBe('2026-12-02T10:00:30.000Z');
  expect(upcomingFireTimes(nextFireTimeOf({ every: '2h' })!, new Date('2026-12-02T09:59:00Z'), 2).map((date) => date.toISOString())).toEqual([
    '2026-12-02T10:00:00.000Z',
    '2026-12-02T12:00:00.000Z',
  ]);
});

describe('planFiring', () => {
  const every2s = nextFireTimeOf({ every: '2s' })!;
  const at = (iso: string) => new Date(iso);

  test('on time (a tick late at most): fires the due time and moves on past now', () => {
    expect(planFiring(every2s, at('2026-12-02T10:00:02Z'), at('2026-12-02T10:00:02.700Z'), 'none')).toEqual({
      fireTime: at('2026-12-02T10:00:02Z'),
      reason: 'scheduled',
      next: at('2026-12-02T10:00:04Z'),
    });
  });

  test('after an outage: latest fires once, for the most recent missed time; none fires nothing', () => {
    const due = at('2026-12-02T10:00:02Z');
    const now = new Date(due.getTime() + MISSED_AFTER_MS + 4_500);
    expect(planFiring(every2s, due, now, 'latest')).toEqual({ fireTime: at('2026-12-02T10:00:08Z'), reason: 'catch_up', next: at('2026-12-02T10:00:10Z') });
    expect(planFiring(every2s, due, now, 'none')).toEqual({ fireTime: null, reason: 'catch_up', next: at('2026-12-02T10:00:10Z') });
  });

  test('the latest missed time of a cron schedule after a long outage', () => {
    const hourly = nextFireTimeOf({ cron: '0 * * * *', timezone: 'UTC' })!;
    expect(latestFireTime(hourly, at('2026-11-28T00:00:00Z'), at('2026-12-02T10:59:59Z')).toISOString()).toBe('2026-12-02T10:00:00.000Z');
    const everySecond = nextFireTimeOf({ cron: '* * * * * *', timezone: 'UTC' })!;
    expect(latestFireTime(everySecond, at('2026-11-01T00:00:00Z'), at('2026-12-02T10:59:59.500Z')).toISOString()).toBe('2026-12-02T10:59:59.000Z');
  });
});

test("isoInTimeZone writes the zone's wall clock and offset", () => {
  const instant = new Date('2026-12-02T14:30:00.000Z');
  expect(isoInTimeZone(instant, 'America/New_York')).toBe('2026-12-02T09:30:00.000-05:00');
  expect(isoInTimeZone(instant, 'Asia/Kolkata')).toBe('2026-12-02T20:00:00.000+05:30');
  expect(isoInTimeZone(instant, 'UTC')).toBe('2026-12-02T14:30:00.000+00:00');
  expect(isoInTimeZone(new Date('2026-07-01T12:00:00Z'), 'Europe/Paris')).toBe('2026-07-01T14:00:00.000+02:00');
});
