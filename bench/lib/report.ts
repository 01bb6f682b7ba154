import type { Figures } from './compared';

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
  /** worksched's values of the figures compared with pg-boss and graphile-worker (bench/lib/compared.ts). */
  figures?: Figures;
  /** The peers' values of the same figures (bench/peersCompared.ts). */
  peers?: Array<{ name: string; figures: Figures }>;
}
