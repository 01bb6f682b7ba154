/** A screen that `--watch` keeps up to date: how to get the next state, draw it, and know that it has ended. */
export interface LiveView<T> {
  /** The next state; after the first it may wait (a long-poll, a pause) up to about a second. */
  next(previous: T | null, signal: AbortSignal): Promise<T>;
  /** The text of one frame; `width` is the terminal's, or null when piped. */
  render(state: T, width: number | null): string;
  /** Nothing more will change (the request ended): the view stops after drawing it. */
  isFinal(state: T): boolean;
  /** Piped output gets a frame only when this changes, not every second. */
  changeKey(state: T): string;
  /** The first line of each frame on a terminal (what is watched, how to stop). */
  title: string;
}

const ESC = '\x1b[';
const ALTERNATE_SCREEN_ON = `${ESC}?1049h`;
const ALTERNATE_SCREEN_OFF = `${ESC}?1049l`;
const CURSOR_HIDE = `${ESC}?25l`;
const CURSOR_SHOW = `${ESC}?25h`;
const HOME = `${ESC}H`;
const ERASE_LINE_END = `${ESC}K`;
const ERASE_BELOW = `${ESC}J`;

/**
 * Runs a view until it is final or the person presses Ctrl-C (both end with exit code 0, as watch(1) does).
 * On a terminal, frames are drawn on the alternate screen as watch(1) and top do, without flicker: each frame is
 * one write that moves the cursor home and overwrites the lines in place (never a clear-screen first); at the
 * end the normal screen comes back with the last frame printed on it, so it stays in the scroll-back. Piped,
 * a frame is printed only when its `changeKey` changes. Resolves with the last state.
 */
export async function runLiveView<T>(view: LiveView<T>, stream: NodeJS.WriteStream = process.stdout): Promise<T | null> {
  const terminal = Boolean(stream.isTTY);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let state: T | null = null;
  let lastKey: string | null = null;
  const draw = () => {
    if (state === null) return;
    if (!terminal) {
      const key = view.changeKey(state);
      if (key !== lastKey) stream.write(`${lastKey === null ? '' : '\n'}${view.render(state, null)}`);
      lastKey = key;
      return;
    }
    const width = Math.max(20, stream.columns || 80);
    const rows = Math.max(3, stream.rows || 24);
    const lines = [`${view.title} · ${new Date().toLocaleTimeString()}`, '', ...view.render(state, width).replace(/\n$/, '').split('\n')];
    // Longer than the screen: cut, rather than scroll (a scrolled frame cannot be overwritten in place).
    const shown = lines.slice(0, rows - 1).map((line) => `${cut(line, width)}${ERASE_LINE_END}`);
    stream.write(`${HOME}${shown.join('\n')}\n${ERASE_BELOW}`);
  };
  const onResize = () => draw();
  if (terminal) {
    stream.write(`${ALTERNATE_SCREEN_ON}${CURSOR_HIDE}`);
    stream.on('resize', onResize);
  }
  try {
    while (!stop.signal.aborted) {
      try {
        state = await view.next(state, stop.signal);
      } catch (error) {
        if (stop.signal.aborted) break;
        throw error;
      }
      draw();
      if (view.isFinal(state)) break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (terminal) {
      stream.off('resize', onResize);
      stream.write(`${CURSOR_SHOW}${ALTERNATE_SCREEN_OFF}`);
      if (state !== null) stream.write(view.render(state, Math.max(20, stream.columns || 80)));
    }
  }
  return state;
}

// Built from the code point, so the source holds no control character.
const COLOUR_CODE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** A line no wider than the terminal (a wrapped line would push the frame down); colour codes take no room. */
function cut(line: string, width: number): string {
  const visible = [...line.replace(COLOUR_CODE, '')];
  return visible.length <= width - 1 ? line : `${visible.slice(0, width - 2).join('')}…`;
}
