import cron from 'node-cron';

/**
 * Cron expressions are read by node-cron (the scheduler's own parser), so what the API accepts is exactly what
 * fires. Returns node-cron's messages, one per bad field ("61 is a invalid expression for minute"); none when valid.
 */
export function cronExpressionIssues(expression: string): string[] {
  const checked = cron.validateDetailed(expression);
  if (checked.valid) return [];
  return checked.errors.map((error) => (error.field === 'expression' ? error.message : `${error.field}: ${error.message}`));
}

/** True for a time zone this Node.js knows (IANA names, "UTC"). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
