/**
 * A statement as the builders in server/sql/ return it: pure functions of their arguments, so the server runs
 * them and the benchmark EXPLAINs exactly the same text. `?` placeholders (what `em.execute` binds), values in
 * order; statements for the pg driver's simple protocol (the claim) inline their numbers and have no values.
 */
export interface SqlStatement {
  text: string;
  values: unknown[];
}
