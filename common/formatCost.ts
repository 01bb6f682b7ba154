/**
 * A cost (a number without a currency) with four significant digits and no trailing zeros: 0.0013, 12.35,
 * 1234; whole numbers from 10,000 up; exponent form below a millionth.
 */
export function formatCost(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 10_000) return String(Math.round(value));
  if (magnitude < 1e-6) return value.toPrecision(3);
  const decimals = Math.max(0, 3 - Math.floor(Math.log10(magnitude)));
  return Number(value.toFixed(decimals)).toFixed(decimals).replace(/\.?0+$/, '');
}
