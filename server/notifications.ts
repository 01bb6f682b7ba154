import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import type { Logger } from '../common/logger';
import { isDatabaseUnavailable } from './databaseErrors';
import { timedQuery, type DatabaseTimeouts } from './databaseTimeouts';

/** Channels the server NOTIFYs on; every server process sharing the database LISTENs to all of them. */
export const CHANNELS = {
  /** Requests became pending: wake long-polling claimers. Payload: how many (empty: unknown, wake all). */
  pendingWork: 'worksched_pending_work',
  /** Requests got log entries or changed state; payload: their ids, comma-separated. */
  workRequestActivity: 'worksched_work_request_activity',
  /** A token was revoked: every process forgets the tokens it cached. Payload: the token id. */
  credentials: 'worksched_credentials',
  /** Sent by a server process once it LISTENs, so that the others know at once that they are not alone. */
  listenerHello: 'worksched_listener_hello',
} as const;
type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

export interface Subscription {
  /** Resolves true when woken, false at the timeout or abort. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  cancel(): void;
}

export interface PendingWorkSubscription extends Subscription {
  /** The wake-up that woke it (see passOnPendingWork), 0 if none did. */
  wokenBy(): number;
}

interface PendingWorkWaiter {
  capacity: number;
  /** The latest wake-up its claimer already acted on: a passed-on one of that number or older skips it. */
  tried: number;
  wokenBy: number;
  wake: (() => void) | null;
}

/**
 * The application_name of every server process's LISTEN connection. A session whose name starts with it counts as
 * a listener: while no other one is on the database, the after-commit notifications are not sent (see
 * flushOutgoing). A program that LISTENs to these channels itself must connect under such a name.
 */
export const LISTEN_APPLICATION_NAME = 'worksched-listen';

/** How often a process checks whether other listeners are on the database (a new one also says hello at once). */
export const LISTENER_CHECK_MS = 2_000;

/** pg_notify payloads must stay under 8,000 bytes: ids (≤ 16 digits and a comma) go out in groups this big. */
export const IDS_PER_NOTIFICATION = 400;

/** Comma-separated ids in payloads of IDS_PER_NOTIFICATION ids at most. */
export function payloadChunks(ids: number[]): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < ids.length; start += IDS_PER_NOTIFICATION) chunks.push(ids.slice(start, start + IDS_PER_NOTIFICATION).join(','));
  return chunks;
}

/**
 * One dedicated connection LISTENing for the server's channels, fanned out in-process. It reconnects with
 * backoff; while it is down, waiters still wake at their own timeouts (and `connected` is false so callers
 * can poll more often).
 */
export class DatabaseNotifications {
  private readonly events = new EventEmitter();
  private client: Client | null = null;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Claimers waiting for pending work, oldest first (a Set keeps insertion order). */
  private readonly pendingWaiters = new Set<PendingWorkWaiter>();
  private outgoing = { activity: new Set<number>(), pending: 0 };
  private sending = false;
  private flushScheduled = false;
  /** Numbers the pendingWork notifications received, so that a passed-on wake-up skips who already tried it. */
  private wakeUps = 0;
  /**
   * Whether another listener may be on the database. True until a check says otherwise, and again at once when a
   * replica says hello. While false, flushOutgoing tells only this process.
   */
  private othersListen = true;
  /** Counts the hellos of other listeners: a check that began before one of them cannot say "alone". */
  private hellosHeard = 0;
  private listenerCheckTimer: NodeJS.Timeout | null = null;
  connected = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
    private readonly timeouts?: DatabaseTimeouts,
    private readonly listenerCheckMs = LISTENER_CHECK_MS,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Whether after-commit notifications are sent to the database (another listener may be on it). */
  get sendsNotifications(): boolean {
    return this.othersListen;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.listenerCheckTimer) clearTimeout(this.listenerCheckTimer);
    const client = this.client;
    this.client = null;
    this.connected = false;
    if (client) await client.end().catch(() => undefined);
    this.emit(CHANNELS.pendingWork, '');
  }

  /**
   * Resolves when `channel` fires (with a matching payload, if given), at `timeoutMs`, or on `signal` abort.
   * Subscribe *before* checking the database, then check, then await: a notification between the check and
   * the wait is not lost. A payload may list several ids (`1,2,3`, see publishActivity); an empty one wakes all.
   */
  subscribe(channel: Channel, payload?: string): Subscription {
    let fired = false;
    let wake: (() => void) | null = null;
    const listener = (received: string) => {
      if (payload !== undefined && received !== '' && received !== payload && !received.split(',').includes(payload)) return;
      fired = true;
      wake?.();
    };
    this.events.on(channel, listener);
    return this.subscription(() => fired, (fn) => (wake = fn), () => this.events.off(channel, listener));
  }

  /**
   * Calls `listener` on every notification of `channel` until the connection closes, and once after each
   * (re)connect (anything may have happened while it was not listening).
   */
  listen(channel: Channel, listener: (payload: string) => void): void {
    this.events.on(channel, listener);
  }

  /**
   * Like subscribe(pendingWork), for a claimer that takes up to `capacity` requests. A notification carrying a
   * count wakes this process's claimers oldest first until their capacities cover it, not all of them: every
   * replica does the same, so no request waits on a wake-up that went to another replica, and a claimer that
   * finds nothing (another took it) waits again without a claim per idle worker. An empty payload (reconnect,
   * close, unknown count) wakes all. A wake-up a claimer cannot use (the request does not fit it) is not passed
   * on: such requests wait for some claimer's slice timeout.
   */
  subscribePendingWork(capacity: number, triedWakeUp = 0): PendingWorkSubscription {
    const waiter: PendingWorkWaiter = { capacity: Math.max(1, capacity), tried: triedWakeUp, wokenBy: 0, wake: null };
    this.pendingWaiters.add(waiter);
    const base = this.subscription(() => waiter.wokenBy > 0, (fn) => (waiter.wake = fn), () => this.pendingWaiters.delete(waiter));
    return { ...base, wokenBy: () => waiter.wokenBy };
  }

  /**
   * A claimer woken by `wakeUp` found less than it could take while unclaimed pending work remains (it did not
   * fit): hands `count` of that wake-up on to this process's next waiters that have not tried it yet.
   */
  passOnPendingWork(wakeUp: number, count: number): void {
    this.wakePendingWaiters(count, wakeUp);
  }

  /**
   * After commit, outside any transaction: tells log followers and waiters of these requests, on every server
   * process, that they changed (only this process's while no other listener is on the database). For completion
   * paths, instead of pg_notify inside the transaction: a notifying commit holds a database-wide lock until its
   * WAL is flushed, serialising every other notifying commit. Sent on
   * the LISTEN connection with synchronous_commit off (the lock is then held only for the commit itself; a lost
   * notification costs a follower one slice of its wait), coalesced while one is in flight. Never throws.
   */
  publishActivity(ids: Iterable<number>): void {
    for (const id of ids) this.outgoing.activity.add(Math.trunc(Number(id)));
    this.scheduleFlush();
  }

  /**
   * After commit: `count` requests became pending (see subscribePendingWork). Never throws. This process's
   * claimers are woken at once, not a round trip later when the notification comes back; other replicas by it.
   */
  publishPendingWork(count: number): void {
    if (count > 0) {
      this.outgoing.pending += Math.trunc(count);
      this.wakeUps += 1;
      this.wakePendingWaiters(Math.trunc(count), this.wakeUps);
    }
    this.scheduleFlush();
  }

  /** Sends what is outgoing once the current callbacks are done: the caller's HTTP answer goes out first. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushOutgoing();
    });
  }

  private flushOutgoing(): void {
    if (this.sending || this.closed) return;
    const { activity, pending } = this.outgoing;
    if (activity.size === 0 && pending === 0) return;
    const client = this.client;
    if (!client || !this.connected) {
      // Not listening either: the reconnect wakes this process's waiters; other replicas re-check at their slice.
      this.outgoing = { activity: new Set(), pending: 0 };
      return;
    }
    this.outgoing = { activity: new Set(), pending: 0 };
    if (!this.othersListen) {
      // No other listener on the database: a notification would only come back to this process. Tell it here,
      // without the round trip and the transaction (publishPendingWork already woke this process's claimers).
      for (const chunk of payloadChunks([...activity])) this.emit(CHANNELS.workRequestActivity, chunk);
      if (pending > 0) this.emit(CHANNELS.pendingWork, String(pending), true);
      return;
    }
    const statements = ['begin', 'set local synchronous_commit = off'];
    for (const chunk of payloadChunks([...activity])) statements.push(`select pg_notify('${CHANNELS.workRequestActivity}', '${chunk}')`);
    if (pending > 0) statements.push(`select pg_notify('${CHANNELS.pendingWork}', '${pending}')`);
    statements.push('commit');
    this.sending = true;
    client
      .query(timedQuery(statements.join(';\n'), this.timeouts?.queryMs))
      .catch(async (error: unknown) => {
        this.logger.warn({ err: error }, 'after-commit notification failed');
        // A connection that timed out or broke may never answer a rollback: replace it.
        if (isDatabaseUnavailable(error)) this.scheduleReconnect(client);
        else await client.query('rollback').catch(() => undefined);
      })
      .finally(() => {
        this.sending = false;
        this.flushOutgoing();
      });
  }

  private wakePendingWaiters(count: number, wakeUp: number): void {
    let budget = count;
    for (const waiter of this.pendingWaiters) {
      if (budget <= 0) break;
      if (waiter.wokenBy > 0 || waiter.tried >= wakeUp) continue;
      budget -= waiter.capacity;
      waiter.wokenBy = wakeUp;
      this.pendingWaiters.delete(waiter);
      waiter.wake?.();
    }
  }

  private subscription(fired: () => boolean, setWake: (wake: () => void) => void, cancel: () => void): Subscription {
    return {
      cancel,
      wait: (timeoutMs, signal) =>
        new Promise<boolean>((resolve) => {
          if (fired() || signal?.aborted || this.closed) {
            cancel();
            resolve(fired());
            return;
          }
          const finish = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', finish);
            cancel();
            resolve(fired());
          };
          const timer = setTimeout(finish, Math.max(0, timeoutMs));
          setWake(finish);
          signal?.addEventListener('abort', finish, { once: true });
        }),
    };
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client({
      connectionString: this.databaseUrl,
      application_name: LISTEN_APPLICATION_NAME,
      // No statement or query timeout: this connection only waits for notifications and sends pg_notify.
      ...(this.timeouts ? { connectionTimeoutMillis: this.timeouts.connectMs } : {}),
      keepAlive: true,
    });
    client.on('notification', (message) => {
      // Sent by this connection (flushOutgoing): publishPendingWork already woke this process's claimers.
      const own = message.processId === (client as Client & { processID?: number }).processID;
      if (message.channel === CHANNELS.listenerHello) {
        // Only hellos count: this process's pool connections also notify (inside some transactions).
        if (!own) this.heardHello();
        return;
      }
      this.emit(message.channel, message.payload ?? '', own);
    });
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'notification connection lost; reconnecting');
      this.scheduleReconnect(client);
    });
    client.on('end', () => this.scheduleReconnect(client));
    try {
      await client.connect();
      for (const channel of Object.values(CHANNELS)) await client.query(`LISTEN ${channel}`);
      // Listening now: the others stop treating themselves as alone before their next check.
      await client.query(`select pg_notify('${CHANNELS.listenerHello}', '')`);
    } catch (error) {
      if (!this.closed) {
        this.logger.warn({ err: error }, 'cannot LISTEN for notifications yet; retrying');
        this.scheduleReconnect(client);
        return;
      }
    }
    if (this.closed) {
      // close() ran while this connection was being set up: it is nobody's to end but ours.
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.connected = true;
    this.othersListen = true;
    await this.checkOtherListeners(client); // never throws
    // Anything may have happened while we were not listening: wake everyone to re-check.
    for (const channel of Object.values(CHANNELS)) this.emit(channel, '');
  }

  private heardHello(): void {
    this.hellosHeard += 1;
    if (!this.othersListen) this.logger.debug('another server process listens on this database: notifications are sent again');
    this.othersListen = true;
  }

  /** Asks the database whether another listener is on it, then again every listenerCheckMs while `client` is current. */
  private async checkOtherListeners(client: Client): Promise<void> {
    if (this.listenerCheckTimer) clearTimeout(this.listenerCheckTimer);
    this.listenerCheckTimer = null;
    const heardBefore = this.hellosHeard;
    try {
      const result = await client.query<{ others: boolean }>(
        timedQuery(
          `select exists (select 1 from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
             and starts_with(application_name, '${LISTEN_APPLICATION_NAME}')) as others`,
          this.timeouts?.queryMs,
        ),
      );
      // A hello that arrived while the check ran is newer than its answer.
      const others = result.rows[0].others || this.hellosHeard !== heardBefore;
      if (others !== this.othersListen) this.logger.debug({ others }, 'other listeners on this database changed');
      this.othersListen = others;
    } catch (error) {
      this.othersListen = true; // not known: send, as before
      if (isDatabaseUnavailable(error)) this.scheduleReconnect(client);
      else this.logger.warn({ err: error }, 'cannot check for other listeners; notifications are sent');
    }
    if (this.closed || this.client !== client) return;
    this.listenerCheckTimer = setTimeout(() => void this.checkOtherListeners(client), this.listenerCheckMs);
    this.listenerCheckTimer.unref();
  }

  private emit(channel: string, payload: string, own = false): void {
    if (channel === CHANNELS.pendingWork && !own) {
      this.wakeUps += 1;
      this.wakePendingWaiters(/^\d+$/.test(payload) ? Number(payload) : Number.POSITIVE_INFINITY, this.wakeUps);
    }
    this.events.emit(channel, payload);
  }

  private scheduleReconnect(client: Client): void {
    if (this.closed || this.retryTimer) return;
    if (this.client !== null && this.client !== client) return; // an old connection ended; the current one is fine
    this.client = null;
    this.connected = false;
    client.end().catch(() => undefined);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, 1_000);
    this.retryTimer.unref();
  }
}
