import { z } from 'zod';

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
  k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40,
};

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** "2GiB" → 2147483648; "512MB" → 512000000; 1024 → 1024. Returns null when unparseable. */
export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!match) return null;
  const unit = SIZE_UNITS[match[2].toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** 3600 → 3600; "90s" → 90; "15m" → 900; "2h" → 7200. Returns null when unparseable. */
export function parseDurationSeconds(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.ceil(value) : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!match) return null;
  const unit = DURATION_UNITS[match[2].toLowerCase()];
  if (unit === undefined) return null;
  return Math.ceil(Number(match[1]) * unit);
}

/** 2147483648 → "2.0 GiB": for humans, in reasons and tables. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let index = 0;
  while (value >= 1024 && index < units.length - 1) {
    value /= 1024;
    index += 1;
  }
  return index === 0 ? `${value} B` : `${value.toFixed(1)} ${units[index]}`;
}

/**
 * For humans, in tables and log lines: 0.012 → "12ms", 0.4 → "0.4s", 1.23 → "1.2s", 42 → "42s",
 * 184 → "3m04s", 7500 → "2h05m", 273600 → "3d04h". Negative or missing → "-".
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  // Below 0.1 s one decimal of seconds would read "0.0s": say milliseconds instead.
  if (seconds < 0.1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 10) return `${(Math.floor(seconds * 10) / 10).toFixed(1)}s`;
  const whole = Math.floor(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${pad2(whole % 60)}s`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h${pad2(Math.floor((whole % 3600) / 60))}m`;
  return `${Math.floor(whole / 86_400)}d${pad2(Math.floor((whole % 86_400) / 3600))}h`;
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

/** A size in bytes, given as an integer or a string with a unit ("2GiB", "512 MB"). */
export const sizeSchema = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === null) {
      ctx.addIssue({ code: 'custom', message: `not a size: ${JSON.stringify(value)} (use bytes or e.g. "2GiB", "512MB")` });
      return z.NEVER;
    }
    return bytes;
  })
  // Says what comes out (a number of bytes), so the API description shows it too.
  .pipe(z.number());

const MAX_DURATION_S = 365 * 86400;

/** A duration in whole seconds, given as a number of seconds or a string with a unit ("90s", "15m", "2h"). */
export const durationSchema = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    const seconds = parseDurationSeconds(value);
    if (seconds === null || seconds === 0 || seconds > MAX_DURATION_S) {
      ctx.addIssue({ code: 'custom', message: `not a positive duration up to 365 days: ${JSON.stringify(value)} (use seconds or e.g. "90s", "15m", "2h")` });
      return z.NEVER;
    }
    return seconds;
  });
