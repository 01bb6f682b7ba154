/**
 * sqlLiteral (the workflow batch's EXECUTE arguments, inlined into a simple-protocol string) on a real
 * PostgreSQL: what it writes reads back as the same value, whatever quotes, backslashes or braces it holds.
 */
import { withClient } from '../../common/withClient';
import { sqlLiteral } from '../../server/sql/sqlPrepared';

const adminUrl = () => process.env.WORKSCHED_TEST_ADMIN_URL!;

test('strings, JSON, numbers and arrays of them read back unchanged', async () => {
  const awkward = [`it's`, 'back\\slash', 'quote "double"', '{braces}, commas', 'ünïcödé ✓', '', 'NULL'];
  const json = JSON.stringify({ text: `a 'quoted' \\ "string"`, nested: [1, { x: null }] });
  await withClient(adminUrl(), async (client) => {
    const literal = (value: unknown) => sqlLiteral(value, (text) => client.escapeLiteral(text));
    const { rows } = await client.query<{ texts: string[]; ids: string[]; doc: unknown; one: string; nothing: string | null; empty: string[] }>(
      `select ${literal(awkward)}::text[] as texts, ${literal([1, 42, 9_007_199_254_740_991])}::bigint[] as ids, ${literal(json)}::jsonb as doc,
         ${literal(7)}::bigint as one, ${literal(null)}::text as nothing, ${literal([])}::bigint[] as empty`,
    );
    expect(rows[0]).toEqual({ texts: awkward, ids: ['1', '42', '9007199254740991'], doc: JSON.parse(json) as unknown, one: '7', nothing: null, empty: [] });
  });
});

test('values it cannot write as a literal are refused, not written', () => {
  const escape = (text: string) => `'${text}'`;
  expect(() => sqlLiteral(Number.NaN, escape)).toThrow('not a finite number');
  expect(() => sqlLiteral([1, { id: 2 }], escape)).toThrow('not a number or string');
  expect(() => sqlLiteral({ id: 1 }, escape)).toThrow('no literal for a object');
});
