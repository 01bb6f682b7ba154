#!/usr/bin/env node
// The compiled build in dist/ (made by `npm ci` and `npm run build`) when it is at least as new as every source
// file: a leaner process (the worker agent idles at about half the memory). Otherwise — an edited checkout, or no
// build — the TypeScript sources through swc, so stale code never runs. WORKSCHED_FROM_SOURCE=1 forces that.
const { buildIsCurrent, builtEntry } = require('./buildState');

if (process.env.WORKSCHED_FROM_SOURCE !== '1' && buildIsCurrent()) {
  require(builtEntry);
} else {
  require('@swc-node/register');
  require('../cli/main.ts');
}
