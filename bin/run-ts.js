#!/usr/bin/env node
require('@swc-node/register');
require(require('path').resolve(process.argv[2]));
