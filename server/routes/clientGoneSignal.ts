import type { Response } from 'express';

/**
 * An AbortSignal that fires when the client goes away before the answer is sent, including when it went away
 * before this was called: a route usually asks for it after some work of its own (the claim applies the reports
 * it carried first), and a hang-up during that work has already emitted its only 'close'. Missed, a long-poll
 * would go on waiting for a client that is gone (a stopped worker's claim would take the next request for it).
 */
export function clientGoneSignal(res: Response): AbortSignal {
  const controller = new AbortController();
  if (hasClosed(res)) {
    controller.abort();
    return controller.signal;
  }
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** The connection of the unanswered response has closed ('close' was emitted, or its socket is destroyed). */
function hasClosed(res: Response): boolean {
  if (res.writableFinished) return false;
  return res.closed || res.destroyed || res.socket?.destroyed === true;
}
