/** One line of the final summary table. */
export interface SummaryRow {
  scenario: string;
  metric: string;
  value: string;
  target?: string;
  /** undefined: informational, no target. */
  met?: boolean;
}

export interface ScenarioReport {
  rows: SummaryRow[];
  /** Extra lines printed under the table (plans, breakdowns). */
  notes: string[];
}
