/**
 * Columns that a statement aggregated into one string each (string_agg), as the bulk reads of housekeeping answer
 * them: the driver parses a few long strings much faster than thousands of rows.
 */

/**
 * A comma-separated column of `count` integers (empty fields: NaN), scanned in place: no substring per field.
 * The columns are integer text PostgreSQL wrote (ids, bytes, times, hashes), within 2^53.
 */
export function parseIntegers(column: string | null | undefined, count: number): Float64Array {
  const values = new Float64Array(count);
  if (!column) return values.fill(Number.NaN);
  let field = 0;
  let value = 0;
  let negative = false;
  let empty = true;
  for (let index = 0; index <= column.length; index += 1) {
    const code = index < column.length ? column.charCodeAt(index) : COMMA;
    if (code === COMMA) {
      values[field] = empty ? Number.NaN : negative ? -value : value;
      field += 1;
      value = 0;
      negative = false;
      empty = true;
    } else if (code === MINUS) {
      negative = true;
    } else {
      value = value * 10 + (code - ZERO);
      empty = false;
    }
  }
  return values;
}

const COMMA = 44;
const MINUS = 45;
const ZERO = 48;
const ONE = 49;

/** A column of one character per request, '1' for true. */
export function flags(column: string | null | undefined, count: number): Uint8Array {
  const values = new Uint8Array(count);
  if (column) for (let index = 0; index < count; index += 1) values[index] = column.charCodeAt(index) === ONE ? 1 : 0;
  return values;
}
