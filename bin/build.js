#!/usr/bin/env node
// `npm run build` (also run by `npm ci` through `prepare`, and by `npm start` with --if-stale): compiles the
// sources (the server's and the dashboard's) to dist/ with tsc and stamps the time the build started, so bin/worksched.js uses dist/ only while no
// source is newer than the build. Without TypeScript installed (npm ci --omit=dev) it skips: the sources run.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { root, stampFile, buildIsCurrent } = require('./buildState');

if (process.argv.includes('--if-stale') && buildIsCurrent()) process.exit(0);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  process.stderr.write('worksched: typescript is not installed, so there is no build; the sources run through swc\n');
  process.exit(0);
}
const startedAt = new Date();
process.stderr.write('worksched: compiling to dist/ …\n');
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
// The server, then the dashboard's browser modules (their own tsconfig: DOM, ES modules) into dist/dashboard.
let result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status === 0) result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'dashboard', 'tsconfig.json')], { stdio: 'inherit' });
if (result.status !== 0) {
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  process.stderr.write('worksched: the build failed (see above); bin/worksched.js runs the TypeScript sources instead\n');
  process.exit(result.status ?? 1);
}
fs.writeFileSync(stampFile, `${startedAt.toISOString()}\n`);
fs.utimesSync(stampFile, startedAt, startedAt);
