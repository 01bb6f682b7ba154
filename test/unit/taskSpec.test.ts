/** buildCommandLine: what the worker executes for a task spec's `execution` (seed 004: executable + parameters). */
import { buildCommandLine, executionSchema, type Execution } from '../../protocol/taskSpec';

const execution = (input: Partial<Execution> & { executable: string }): Execution => executionSchema.parse(input);

describe('buildCommandLine', () => {
  test('executable alone: no arguments', () => {
    expect(buildCommandLine(execution({ executable: '/bin/true' }))).toEqual({ file: '/bin/true', args: [] });
  });

  test('args first, in order, then parameters as --name=value', () => {
    expect(buildCommandLine(execution({ executable: '/usr/bin/convert', args: ['a.png', 'b.png'], parameters: { size: '10', quality: 90 } }))).toEqual({
      file: '/usr/bin/convert',
      args: ['a.png', 'b.png', '--size=10', '--quality=90'],
    });
  });

  test('numbers and booleans are written as text', () => {
    expect(buildCommandLine(execution({ executable: 'x', parameters: { verbose: true, dry: false, ratio: 1.5 } })).args).toEqual([
      '--verbose=true',
      '--dry=false',
      '--ratio=1.5',
    ]);
  });

  test('parameter_mapping: "" = positional, "-s" = separate flag and value, "--out=" = glued', () => {
    const line = buildCommandLine(
      execution({
        executable: 'tool',
        args: ['first'],
        parameters: { input: 'in.txt', size: 10, output: 'out.txt', plain: 'p' },
        parameter_mapping: { input: '', size: '-s', output: '--out=' },
      }),
    );
    expect(line).toEqual({ file: 'tool', args: ['first', 'in.txt', '-s', '10', '--out=out.txt', '--plain=p'] });
  });

  test('values are passed as single arguments, never split or interpreted by a shell', () => {
    expect(buildCommandLine(execution({ executable: 'echo', parameters: { msg: 'a b; rm -rf /' }, parameter_mapping: { msg: '' } })).args).toEqual([
      'a b; rm -rf /',
    ]);
  });

  test('the input object is not modified', () => {
    const input = execution({ executable: 'x', args: ['a'], parameters: { p: 1 } });
    buildCommandLine(input);
    expect(input.args).toEqual(['a']);
  });
});
