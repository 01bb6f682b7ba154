/**
 * Keeps a Prometheus label's values few: the first `limit` distinct values this process sees keep their own
 * series; every later one is reported as `other`. A value once admitted stays for the life of the process, so
 * series never change meaning mid-scrape (a "top N by frequency" that moves would split one task's counts
 * over two series).
 */
export class BoundedLabelValues {
  static readonly OTHER = 'other';
  private readonly admitted = new Set<string>();

  constructor(readonly limit: number) {}

  valueFor(value: string): string {
    if (this.admitted.has(value)) return value;
    if (this.admitted.size >= this.limit || value === BoundedLabelValues.OTHER) return BoundedLabelValues.OTHER;
    this.admitted.add(value);
    return value;
  }
}
