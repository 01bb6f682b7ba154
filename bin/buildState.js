// Whether dist/ holds a build at least as new as every source file (shared by bin/worksched.js and bin/build.js).
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const SOURCE_DIRS = ['cli', 'client', 'common', 'dashboard', 'entities', 'migrations', 'protocol', 'server', 'worker'];
const builtEntry = path.join(root, 'dist', 'cli', 'main.js');
const stampFile = path.join(root, 'dist', '.built');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

function buildIsCurrent() {
  let builtAt;
  try {
    builtAt = fs.statSync(stampFile).mtimeMs;
    fs.accessSync(builtEntry);
  } catch {
    return false;
  }
  return SOURCE_DIRS.every((dir) => !fs.existsSync(path.join(root, dir)) || newestMtime(path.join(root, dir)) <= builtAt);
}

module.exports = { root, builtEntry, stampFile, buildIsCurrent };
