/**
 * Terminal control sequences in the output tests look at. The regexes are built from the ESC code point so
 * their source holds no control character.
 */
export const ESC = String.fromCharCode(27);

/** A CSI sequence: colours, erasing the line, cursor moves, private modes such as ESC[?25l. */
const CSI_SEQUENCE = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g');

/** The text without its terminal control sequences. */
export function stripAnsi(text: string): string {
  return text.replace(CSI_SEQUENCE, '');
}
