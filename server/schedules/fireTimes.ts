import cron from 'node-cron';
import type { ScheduleTrigger } from '../../protocol/schedules';
import { parseDurationSeconds } from '../../protocol/units';

/** The first fire time strictly after a date. */
export type NextFireTime = (after: Date) => Date;

interface TimeMatcher {
  getNextMatch(date: Date): Date;
}

const matchers = new Map<string, TimeMatcher>();

/**
 * node-cron's own matcher for an expression in a time zone. node-cron 4 offers next runs only from now
 * (`getNextRuns`); its task's matcher, which that method uses, also answers "after this date", which firing
 * needs (after the last fire time, after an outage). test/unit/fireTimes.test.ts checks it against getNextRuns.
 */
function cronMatcher(expression: string, timezone: string): TimeMatcher {
  const key = `${timezone}\u0000${expression}`;
  let matcher = matchers.get(key);
  if (!matcher) {
    const task = cron.createTask(expression, () => undefined, { timezone });
    matcher = (task as unknown as { timeMatcher?: TimeMatcher }).timeMatcher;
    void task.destroy();
    if (typeof matcher?.getNextMatch !== 'function') throw new Error('node-cron no longer exposes its time matcher: fireTimes.ts needs updating');
    if (matchers.size >= 10_000) matchers.clear();
    matchers.set(key, matcher);
  }
  return matcher;
}

/** Fire times of a cron or every trigger (a files trigger has none: it fires on files). */
export function nextFireTimeOf(trigger: ScheduleTrigger): NextFireTime | null {
  if ('cron' in trigger) {
    const matcher = cronMatcher(trigger.cron, trigger.timezone ?? 'UTC');
    return (after) => matcher.getNextMatch(after);
  }
  if ('every' in trigger) {
    const periodMs = (parseDurationSeconds(trigger.every) ?? 1) * 1000;
    // Whole multiples of the period since the epoch: every replica computes the same times.
    return (after) => new Date((Math.floor(after.getTime() / periodMs) + 1) * periodMs);
  }
  return null;
}

/** The next `count` fire times after `after`. */
export function upcomingFireTimes(next: NextFireTime, after: Date, count: number): Date[] {
  const times: Date[] = [];
  let from = after;
  for (let index = 0; index < count; index += 1) {
    from = next(from);
    times.push(from);
  }
  return times;
}

/**
 * A fire time later than this past its due time means no server process was ticking (they tick every second):
 * the times it passed were missed, and `catch_up` decides what happens to them.
 */
export const MISSED_AFTER_MS = 3_000;

export interface FiringPlan {
  /** What to fire now, or null (a missed time with catch_up none). */
  fireTime: Date | null;
  reason: 'scheduled' | 'catch_up';
  /** The schedule's next fire time after this tick. */
  next: Date;
}

/**
 * What a due schedule (`due` ≤ `now`) does at this tick: on time, it fires `due`; after an outage (due more than
 * MISSED_AFTER_MS ago) it fires once for the latest missed time with catch_up latest, not at all with none.
 * Several times due at one tick without an outage (a period shorter than the tick) fire once.
 */
export function planFiring(next: NextFireTime, due: Date, now: Date, catchUp: 'none' | 'latest', known?: Date): FiringPlan {
  // `known`: next(now) already worked out for the same trigger and now (node-cron's matcher is slow).
  const following = known ?? next(now);
  if (now.getTime() - due.getTime() <= MISSED_AFTER_MS) return { fireTime: due, reason: 'scheduled', next: following };
  if (catchUp === 'none') return { fireTime: null, reason: 'catch_up', next: following };
  return { fireTime: latestFireTime(next, due, now), reason: 'catch_up', next: following };
}

/** Walks back in growing windows so that a long outage does not walk every missed time of a frequent trigger. */
const LOOK_BACK_MS = [60_000, 3_600_000, 86_400_000, 31 * 86_400_000, 366 * 86_400_000];

/** The latest fire time in [due, now]; `due` itself when none later is found. */
export function latestFireTime(next: NextFireTime, due: Date, now: Date): Date {
  for (const window of LOOK_BACK_MS) {
    const start = new Date(Math.max(due.getTime(), now.getTime() - window) - 1);
    let latest = next(start);
    if (latest.getTime() > now.getTime()) continue;
    for (let steps = 0; steps < 100_000; steps += 1) {
      const after = next(latest);
      if (after.getTime() > now.getTime()) break;
      latest = after;
    }
    return latest;
  }
  return due;
}

/** "2026-12-02T09:30:00.000-05:00": an instant written in a time zone's wall-clock time with its offset. */
export function isoInTimeZone(date: Date, timezone: string): string {
  const parts = Object.fromEntries(
    zoneFormatter(timezone)
      .formatToParts(date)
      .map((part) => [part.type, part.value]),
  );
  const offset = (parts.timeZoneName ?? 'GMT').replace(/^GMT/, '') || '+00:00';
  const ms = String(date.getUTCMilliseconds()).padStart(3, '0');
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}.${ms}${offset}`;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      timeZoneName: 'longOffset',
    });
    formatters.set(timezone, formatter);
  }
  return formatter;
}

/** The time zone a cron schedule gets when it names none: the server's own, fixed at creation. */
export function serverTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}
