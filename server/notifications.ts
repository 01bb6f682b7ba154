import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import type { Logger } from '../common/logger';

/** Channels the server NOTIFYs on; every server process sharing the database LISTENs to all of them. */
export const CHANNELS = {
  /** A request became pending: wake long-polling claimers. */
  pendingWork: 'worksched_pending_work',
  /** A request got log entries or changed state; payload: its id (or several, comma-separated). */
  workRequestActivity: 'worksched_work_request_activity',
} as const;
type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

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
  connected = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
  ) {
    this.events.setMaxListeners(0);
  }

  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    this.connected = false;
    if (client) await client.end().catch(() => undefined);
    this.events.emit(CHANNELS.pendingWork, '');
  }

  /**
   * Resolves when `channel` fires (with a matching payload, if given), at `timeoutMs`, or on `signal` abort.
   * Subscribe *before* checking the database, then check, then await: a notification between the check and
   * the wait is not lost.
   */
  subscribe(channel: Channel, payload?: string): { wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean>; cancel(): void } {
    let fired = false;
    let wake: (() => void) | null = null;
    const listener = (received: string) => {
      // A batch completion names its requests in one payload, comma-separated.
      if (payload !== undefined && received !== payload && !received.split(',').includes(payload)) return;
      fired = true;
      wake?.();
    };
    this.events.on(channel, listener);
    const cancel = () => this.events.off(channel, listener);
    return {
      cancel,
      wait: (timeoutMs, signal) =>
        new Promise<boolean>((resolve) => {
          if (fired || signal?.aborted || this.closed) {
            cancel();
            resolve(fired);
            return;
          }
          const finish = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', finish);
            cancel();
            resolve(fired);
          };
          const timer = setTimeout(finish, Math.max(0, timeoutMs));
          wake = finish;
          signal?.addEventListener('abort', finish, { once: true });
        }),
    };
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client({ connectionString: this.databaseUrl, application_name: 'worksched-listen' });
    client.on('notification', (message) => this.events.emit(message.channel, message.payload ?? ''));
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'notification connection lost; reconnecting');
      this.scheduleReconnect(client);
    });
    client.on('end', () => this.scheduleReconnect(client));
    try {
      await client.connect();
      for (const channel of Object.values(CHANNELS)) await client.query(`LISTEN ${channel}`);
      this.client = client;
      this.connected = true;
      // Anything may have happened while we were not listening: wake everyone to re-check.
      for (const channel of Object.values(CHANNELS)) this.events.emit(channel, '');
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot LISTEN for notifications yet; retrying');
      this.scheduleReconnect(client);
    }
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
