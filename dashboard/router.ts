import type { ApiOffer } from './api.js';

/** What a page is given: where to draw, the route's parts and query, and a signal that fires when it is left. */
export interface PageContext {
  root: HTMLElement;
  /** The path after the page's name: ['42'] for #/requests/42. */
  rest: string[];
  params: URLSearchParams;
  signal: AbortSignal;
  /** The server's route list (its OpenAPI document), for the pages that offer actions: read while the page loads its data. */
  offer: Promise<ApiOffer>;
}

export type Page = (context: PageContext) => Promise<void>;

/** `#/requests?status=running` → the page name, the rest of the path and the query. Pages live in the hash: no token, ever. */
export function parseHash(hash: string): { name: string; rest: string[]; params: URLSearchParams } {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const [name = '', ...rest] = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: name || 'overview', rest, params: new URLSearchParams(query) };
}

/** The hash of a page: link('requests', ['42']) → '#/requests/42'; undefined params are left out, '' kept. */
export function link(name: string, rest: Array<string | number> = [], params: Record<string, string | number | null | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null) query.set(key, String(value));
  const path = [name, ...rest.map((part) => encodeURIComponent(String(part)))].join('/');
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

/**
 * Calls `refresh` every `ms` after the previous call ended, until the page is left. A hidden tab does not
 * refresh (nobody sees it, and its requests would compete with the workers'): it refreshes once it is shown.
 */
export function every(ms: number, signal: AbortSignal, refresh: () => Promise<void>): void {
  const run = () => {
    if (signal.aborted) return;
    refresh().then(tick, (error: unknown) => {
      if (!signal.aborted) console.warn('refresh failed', error);
      tick();
    });
  };
  const whenVisible = () => {
    if (document.visibilityState !== 'hidden') return run();
    const shown = () => {
      if (document.visibilityState === 'hidden') return;
      document.removeEventListener('visibilitychange', shown);
      run();
    };
    document.addEventListener('visibilitychange', shown);
    signal.addEventListener('abort', () => document.removeEventListener('visibilitychange', shown), { once: true });
  };
  const tick = () => {
    if (signal.aborted) return;
    const timer = setTimeout(whenVisible, ms);
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  };
  tick();
}
