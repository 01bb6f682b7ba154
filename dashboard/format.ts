/** How figures read on the dashboard: binary units for bytes, seconds with a unit, local times with an age. */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '–';
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function formatPercent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '–' : `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)} %`;
}

/** "12:03:04 (5 min ago)" today, the date before that. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const time = new Date(iso);
  const today = new Date().toDateString() === time.toDateString();
  const text = today ? time.toLocaleTimeString() : time.toLocaleString();
  return `${text} (${formatAge(Date.now() - time.getTime())})`;
}

export function formatAge(ms: number): string {
  // A future time (a schedule's next fire time) reads "in 13 min", a past one "13 min ago".
  const seconds = Math.round(Math.abs(ms) / 1000);
  const text = seconds < 60 ? `${seconds} s` : seconds < 3600 ? `${Math.round(seconds / 60)} min` : seconds < 172_800 ? `${Math.round(seconds / 3600)} h` : `${Math.round(seconds / 86_400)} d`;
  return ms < -500 ? `in ${text}` : `${text} ago`;
}

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
