import Table from 'cli-table3';
import { truncate, useColour } from './format';

export interface Column {
  head: string;
  /** Free text that may be cut with an ellipsis to fit the terminal, down to this many characters. */
  shrinkTo?: number;
  /** Of low value on a narrow terminal: dropped when cutting text is not enough, the highest rank first. */
  dropRank?: number;
}

export type Cell = string | number;

/** Borders and padding: "│ a │ b │" is 3 characters per column plus 1. */
const frameWidth = (columns: number) => 3 * columns + 1;
const textWidth = (text: string) => [...text].length;

/**
 * Characters a table may use: the terminal's width (`COLUMNS` overrides it, as for ls), or null when stdout
 * is not a terminal: pipes and files get full rows.
 */
export function terminalWidth(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): number | null {
  if (!stream.isTTY) return null;
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return stream.columns || 80;
}

/**
 * A table that fits `width`: first the widest free-text column is cut (repeatedly, down to its `shrinkTo`),
 * then low-value columns are dropped and the text given its room back. Without a width, every row is full.
 */
export function renderTable(
  columns: Column[],
  rows: Cell[][],
  options: { width?: number | null; colour?: boolean } = {},
): string {
  const width = options.width === undefined ? terminalWidth() : options.width;
  const cells = rows.map((row) => row.map((cell) => String(cell)));
  const natural = columns.map((column, index) => Math.max(textWidth(column.head), ...cells.map((row) => textWidth(row[index] ?? ''))));
  let shown = columns.map((_, index) => index);
  let widths = natural.slice();
  if (width !== null) {
    const droppable = shown.filter((index) => columns[index].dropRank !== undefined).sort((a, b) => columns[b].dropRank! - columns[a].dropRank!);
    const floor = (index: number) => Math.max(columns[index].shrinkTo ?? natural[index], 1);
    for (;;) {
      widths = shrinkToFit(natural, shown, width, floor, columns);
      if (sum(widths, shown) + frameWidth(shown.length) <= width || droppable.length === 0) break;
      const dropped = droppable.shift()!;
      shown = shown.filter((index) => index !== dropped);
    }
    // Still too wide with every low-value column gone: cut text down to its heading.
    if (sum(widths, shown) + frameWidth(shown.length) > width) {
      widths = shrinkToFit(natural, shown, width, (index) => Math.min(natural[index], Math.max(textWidth(columns[index].head), 3)), columns);
    }
  }

  const colour = options.colour ?? useColour();
  const table = new Table({
    head: shown.map((index) => columns[index].head),
    // compact: no rule between rows, so a long list stays readable.
    style: colour ? { head: ['cyan'], border: ['grey'], compact: true } : { head: [], border: [], compact: true },
  });
  for (const row of cells) table.push(shown.map((index) => fit(row[index] ?? '', widths[index])));
  return table.toString();
}

/** Cuts the widest shrinkable column by one character at a time until the table fits or nothing may shrink. */
function shrinkToFit(natural: number[], shown: number[], width: number, floor: (index: number) => number, columns: Column[]): number[] {
  const widths = natural.slice();
  let excess = sum(widths, shown) + frameWidth(shown.length) - width;
  while (excess > 0) {
    const candidates = shown.filter((index) => columns[index].shrinkTo !== undefined && widths[index] > floor(index));
    if (candidates.length === 0) break;
    const widest = candidates.reduce((best, index) => (widths[index] > widths[best] ? index : best));
    widths[widest] -= 1;
    excess -= 1;
  }
  return widths;
}

function fit(text: string, width: number): string {
  return textWidth(text) <= width ? text : truncate(text, width);
}

function sum(widths: number[], shown: number[]): number {
  return shown.reduce((total, index) => total + widths[index], 0);
}
