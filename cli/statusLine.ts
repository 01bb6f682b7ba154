/**
 * One line at the bottom of a terminal, redrawn in place every second (`\r` + erase line), with other output
 * printed above it. Off (every call does nothing) when the stream is not a terminal: pipes and files get none
 * of it.
 */
export class StatusLine {
  private readonly enabled: boolean;
  private shown = false;
  /** Output printed above may end mid-line; redrawing then would erase it, so wait for its newline. */
  private atLineStart = true;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly render: () => string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = Boolean(stream.isTTY);
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    this.redraw();
    this.timer = setInterval(() => this.redraw(), 1_000);
    this.timer.unref();
  }

  redraw(): void {
    if (!this.enabled || !this.atLineStart) return;
    const width = Math.max(10, (this.stream.columns || 80) - 1);
    const text = this.render().replace(/\s+/g, ' ');
    this.stream.write(`\r\x1b[K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  /** Call around anything written to the terminal while the line is up. */
  async printAbove(write: () => Promise<void> | void, text: string): Promise<void> {
    this.clear();
    await write();
    if (text.length > 0) this.atLineStart = text.endsWith('\n');
    this.redraw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }
}
