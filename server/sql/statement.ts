/**
 * A statement as the builders in server/sql/ return it: pure functions of their arguments, so the server runs
 * them and the benchmark EXPLAINs exactly the same text. `?` placeholders (what `em.execute` binds), values in
 * order; statements for the pg driver's simple protocol (the claim) inline their numbers and have no values.
 */
export interface SqlStatement {
  text: string;
  values: unknown[];
}

/** A statement for the pg driver's extended protocol under a name: PostgreSQL parses and plans it once per connection. */
export interface NamedStatement {
  name: string;
  text: string;
  values: unknown[];
}

/**
 * `statement` (a builder's `?` placeholders, which they use for nothing else) as a named statement with `$1…$n`.
 * Only for builders whose text does not depend on their values: one name must always mean one text.
 */
export function namedStatement(name: string, statement: SqlStatement): NamedStatement {
  const known = numberedTexts.get(name);
  if (known?.source === statement.text) return { name, text: known.text, values: statement.values };
  let index = 0;
  const text = statement.text.replace(/\?/g, () => `$${(index += 1)}`);
  numberedTexts.set(name, { source: statement.text, text });
  return { name, text, values: statement.values };
}

/** The last text numbered under each name (hot paths run the same statement on every call). */
const numberedTexts = new Map<string, { source: string; text: string }>();
