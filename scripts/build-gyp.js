// Builds the CPU-only addon with node-gyp into build-gyp/ without clobbering the cmake-js build in build/:
// build/ is moved aside while node-gyp runs (node-gyp cannot write anywhere else) and restored afterwards.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cmakeBuild = path.join(root, 'build');
const parked = path.join(root, 'build-cmake-parked');
const out = path.join(root, 'build-gyp');

if (fs.existsSync(parked)) throw new Error(`${parked} exists: an earlier build:gyp was interrupted; move it back to build/`);
const hadCmake = fs.existsSync(cmakeBuild);
if (hadCmake) fs.renameSync(cmakeBuild, parked);
try {
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  execFileSync(process.execPath, [nodeGyp, 'rebuild', '-j', String(require('node:os').availableParallelism?.() ?? 2)], { cwd: root, stdio: 'inherit' });
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(path.join(cmakeBuild, 'Release', 'hgc.node'), path.join(out, 'hgc.node'));
  fs.rmSync(cmakeBuild, { recursive: true, force: true });
} finally {
  if (hadCmake) fs.renameSync(parked, cmakeBuild);
}
console.log(`node-gyp build: ${path.join(out, 'hgc.node')}`);
