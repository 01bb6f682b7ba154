#!/usr/bin/env node
// Runs the TypeScript sources directly (swc transpiles on load; no build step to forget).
require('@swc-node/register');
require('../cli/main.ts');
