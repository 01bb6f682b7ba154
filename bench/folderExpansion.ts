/**
 * Scenario 15: `single_file_task` on a folder of 10,000 files (BENCH_EXPANSION_FILES): one POST /work-requests
 * reads the folder and creates a workflow of one request per file, timed from the call to its 201. Then the
 * same folder passed as one request (every path in the parameter). Target: the expansion ≤ 3 s.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FileExpansion } from '../protocol/workflow';
import type { WorkRequest } from '../protocol/workRequest';
import { Cleanup, makeTempDir, NOOP_SPEC, progress, startBenchServer, type BenchPostgres } from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { ms } from './lib/stats';

const FILES = Number(process.env.BENCH_EXPANSION_FILES ?? 10_000);
const TARGET_MS = 3_000;
const SCENARIO = '15 folder expansion';

export async function runFolderExpansion(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'expansion', { maxExpansion: Math.max(FILES, 10_000) });
    const folder = await makeTempDir(cleanup, 'worksched-bench-expansion-');
    const names = Array.from({ length: FILES }, (_, index) => `input-${String(index).padStart(6, '0')}.csv`);
    for (let at = 0; at < names.length; at += 500) await Promise.all(names.slice(at, at + 500).map((name) => fs.writeFile(path.join(folder, name), '')));
    await fs.writeFile(path.join(folder, 'README.txt'), 'not matched');
    progress(`${FILES.toLocaleString('en-US')} files in ${folder}`);
    const spec = { ...NOOP_SPEC, required_folder: [folder], required_file_expression: ['\\.csv$'], filepath_parameter: ['input'] };

    const started = performance.now();
    const expansion = await bench.http.post<FileExpansion>('/api/v1/work-requests', bench.server.adminToken, { ...spec, single_file_task: true });
    const expandMs = performance.now() - started;
    if (expansion.work_requests.length !== FILES || expansion.task_counts.total !== FILES) {
      throw new Error(`expected ${FILES} requests, the answer has ${expansion.work_requests.length} (task_counts.total ${expansion.task_counts.total})`);
    }
    const oneStarted = performance.now();
    const one = await bench.http.post<WorkRequest>('/api/v1/work-requests', bench.server.adminToken, spec);
    const oneMs = performance.now() - oneStarted;
    const passed = one.task_data.execution.parameters.input;
    if (!Array.isArray(passed) || passed.length !== FILES) throw new Error(`the one request carries ${Array.isArray(passed) ? passed.length : 1} paths, expected ${FILES}`);

    const line = `single_file_task on ${FILES.toLocaleString('en-US')} files: workflow of ${FILES.toLocaleString('en-US')} requests in ${ms(expandMs)}; all paths in one request: ${ms(oneMs)}`;
    progress(line);
    return {
      rows: [
        { scenario: SCENARIO, metric: `single_file_task, ${FILES.toLocaleString('en-US')} files → one workflow`, value: ms(expandMs), target: `≤ ${TARGET_MS / 1000} s`, met: expandMs <= TARGET_MS },
        { scenario: SCENARIO, metric: `${FILES.toLocaleString('en-US')} paths in one request`, value: ms(oneMs) },
      ],
      notes: [`${SCENARIO}: ${line}`],
    };
  } finally {
    await cleanup.runAll();
  }
}
