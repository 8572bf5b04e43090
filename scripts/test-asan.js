// Runs the test suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of the addon
// (build-asan/, built here if missing). Node itself is not instrumented, so the sanitizer runtimes are
// preloaded. Leak detection is off: V8 keeps memory alive until exit by design, which LeakSanitizer would
// report; allocator and tensor leaks are covered by the memory() tests instead.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const addon = path.join(root, 'build-asan', 'Debug', 'hgc.node');
if (!fs.existsSync(addon) || process.argv.includes('--rebuild')) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  execFileSync(process.execPath, [cmakeJs, 'compile', '--out', 'build-asan', '--debug', '--CDHGC_SANITIZE=ON', '--CDHGC_CUDA=OFF'],
    { cwd: root, stdio: 'inherit' });
}
const runtime = (name) => execFileSync('gcc', [`-print-file-name=${name}`]).toString().trim();
const env = {
  ...process.env,
  HGC_ADDON: addon,
  LD_PRELOAD: [runtime('libasan.so'), runtime('libubsan.so')].join(':'),
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0:halt_on_error=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};
const tap = path.join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs');
const args = [tap, '--disable-coverage', '--timeout=1800', ...process.argv.slice(2).filter((a) => a !== '--rebuild')];
const result = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
