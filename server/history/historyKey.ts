/** A history key; '' stands for "no subject" / "no context". */
export interface HistoryKey {
  taskName: string;
  subject: string;
  context: string;
}

export function historyKeyOf(row: { taskName: string; subject?: string | null; context?: string | null }): HistoryKey {
  return { taskName: row.taskName, subject: row.subject ?? '', context: row.context ?? '' };
}

/** A level of the fallback chain: the columns it matches on, and how it reads. */
export interface HistoryLevel {
  label: string;
  where: string;
  params: string[];
}

/** (task_name, subject, context) → (task_name, subject) → task_name: most specific first. */
export function historyLevels(key: HistoryKey): HistoryLevel[] {
  return [
    { label: describeKey(key), where: 'task_name = ? and subject = ? and context = ?', params: [key.taskName, key.subject, key.context] },
    { label: describeKey({ ...key, context: '' }) + (key.context ? ' (any context)' : ''), where: 'task_name = ? and subject = ?', params: [key.taskName, key.subject] },
    { label: `${key.taskName} (any subject)`, where: 'task_name = ?', params: [key.taskName] },
  ];
}

/** "build/foo/amd64": the key as operators read it. */
export function describeKey(key: HistoryKey): string {
  // "-" keeps the parts apart when only the context is set: (T, '', C) reads "T/-/C", not "T/C".
  if (key.subject === '' && key.context !== '') return `${key.taskName}/-/${key.context}`;
  return [key.taskName, key.subject, key.context].filter((part) => part !== '').join('/');
}
