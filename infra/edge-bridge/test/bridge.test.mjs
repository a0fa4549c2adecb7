// The bridge with real Node.js and the real binaries (built by `make build`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bridge } from '../index.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = (name) => path.join(ROOT, 'target/release', name);
const EVENT = (name) => JSON.parse(readFileSync(path.join(ROOT, 'fixtures/events', name), 'utf8'));

/** What the Rust handler answers when called directly (no runtime, no bridge). */
function direct(kind, event) {
  return JSON.parse(execFileSync(BIN('edge-resize'), ['invoke', kind], { input: JSON.stringify(event) }).toString());
}

function script(body) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bridge-'));
  // .mjs: ES module syntax whatever the Node.js version's detection rules.
  const file = path.join(dir, 'bootstrap.mjs');
  writeFileSync(file, `#!/usr/bin/env node\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const NEXT = "await fetch(`http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next`);";

test('viewer-request through the bridge equals a direct call', async () => {
  const bridge = new Bridge({ bootstrap: BIN('viewer-request'), timeoutMs: 5000 });
  const t0 = performance.now();
  for (const name of ['viewer-request.json', 'viewer-request-bad.json']) {
    const ev = EVENT(name);
    const got = await bridge.invoke(ev);
    if (name === 'viewer-request.json') console.log(`# cold start (spawn to first response): ${(performance.now() - t0).toFixed(1)} ms`);
    assert.deepEqual(got, direct('viewer-request', ev), name);
  }
  assert.equal((await bridge.invoke(EVENT('viewer-request.json'))).uri, '/image/100x100/webp/coffee.jpg');
  const n = 200;
  const t1 = performance.now();
  for (let i = 0; i < n; i++) await bridge.invoke(EVENT('viewer-request.json'));
  console.log(`# warm round trip through the bridge: ${((performance.now() - t1) / n).toFixed(3)} ms per event`);
  bridge.kill();
});

test('origin-response through the bridge passes a 200 through', async () => {
  const bridge = new Bridge({ bootstrap: BIN('origin-response'), timeoutMs: 10000, env: { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' } });
  const ev = EVENT('origin-response-hit.json');
  assert.deepEqual(await bridge.invoke(ev), ev.Records[0].cf.response);
  bridge.kill();
});

test('a crashing binary fails that event and is restarted for the next', async () => {
  const marker = path.join(mkdtempSync(path.join(tmpdir(), 'crash-')), 'crashed');
  const boot = script(`
import { existsSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
if (!existsSync(${JSON.stringify(marker)})) { writeFileSync(${JSON.stringify(marker)}, '1'); ${NEXT} process.exit(3); }
spawn(${JSON.stringify(BIN('viewer-request'))}, [], { stdio: 'inherit' }).on('exit', (c) => process.exit(c ?? 1));`);
  const bridge = new Bridge({ bootstrap: boot, timeoutMs: 5000 });
  await assert.rejects(bridge.invoke(EVENT('viewer-request.json')), /bootstrap exited/);
  const ok = await bridge.invoke(EVENT('viewer-request.json'));
  assert.equal(ok.uri, '/image/100x100/webp/coffee.jpg');
  bridge.kill();
});

test('a hanging binary is cut before the trigger timeout', async () => {
  const boot = script(`${NEXT} setInterval(() => {}, 1000);`);
  const bridge = new Bridge({ bootstrap: boot, timeoutMs: 5000 });
  const t0 = Date.now();
  // 1 s left in the trigger: the bridge answers with an error before it runs out.
  await assert.rejects(bridge.invoke(EVENT('viewer-request.json'), 1000), /did not answer within/);
  const took = Date.now() - t0;
  assert.ok(took < 1000, `took ${took} ms`);
  assert.equal(bridge.child, null, 'the hung binary was killed');
});
