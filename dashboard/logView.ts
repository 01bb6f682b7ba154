import { apiGet, followNdjson, withQuery } from './api.js';
import { h } from './dom.js';
import type { LogEntry } from './types.js';

/**
 * A request's log in a <pre>: what is stored, then — while the request runs — each new entry as the NDJSON
 * follow stream brings it, until the request ends or the page is left. Texts go in as text nodes.
 */
export function logView(id: number, live: boolean, signal: AbortSignal, onEnd: () => void): HTMLElement {
  const pre = h('pre', { class: 'log', 'data-log': String(id), 'data-following': live ? 'true' : 'false' });
  let lastSeq = -1;
  const add = (entry: LogEntry) => {
    if (entry.seq <= lastSeq) return;
    lastSeq = entry.seq;
    pre.appendChild(entry.stream === 'stdout' ? document.createTextNode(entry.text) : h('span', { class: entry.stream }, entry.text));
    if (pre.scrollHeight - pre.scrollTop - pre.clientHeight < 80) pre.scrollTop = pre.scrollHeight;
  };
  const path = `/api/v1/work-requests/${id}/logs`;
  const done = (error?: unknown) => {
    pre.setAttribute('data-following', 'false');
    if (error && !signal.aborted) pre.appendChild(h('span', { class: 'system' }, `\n[log: ${error instanceof Error ? error.message : 'the stream failed'}]\n`));
    if (!signal.aborted) onEnd();
  };
  if (live) {
    followNdjson<LogEntry>(withQuery(path, { follow: 'true' }), add, signal).then(() => done(), done);
  } else {
    apiGet<{ entries: LogEntry[]; truncated: boolean }>(path, signal).then((answer) => {
      answer.entries.forEach(add);
      if (answer.entries.length === 0) pre.appendChild(h('span', { class: 'system' }, '(no output)'));
      if (answer.truncated) pre.appendChild(h('span', { class: 'system' }, '\n[the log was truncated at the server\'s limit]'));
    }, (error: unknown) => !signal.aborted && done(error));
  }
  return pre;
}
