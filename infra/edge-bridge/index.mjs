// Lambda@Edge bridge: Lambda@Edge runs only its managed Node.js and Python runtimes, so
// this handler serves the Lambda Runtime API on 127.0.0.1 to the unchanged Rust
// `bootstrap` (a lambda_runtime program) and forwards each CloudFront event to it.
//
// - The binary is spawned once per execution environment and reused across events.
// - A crash of the binary fails the event in flight; the next event starts a new one.
// - A hang is cut before the trigger's own timeout (remaining time minus a margin): the
//   binary is killed and the event fails, instead of CloudFront waiting out the trigger.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PREFIX = '/2018-06-01/runtime';
/** Time kept back from the trigger's deadline to answer with an error. */
const MARGIN_MS = 250;

export class Bridge {
  /** @param {{bootstrap?: string, timeoutMs?: number, env?: object}} opts */
  constructor(opts = {}) {
    this.bootstrap = opts.bootstrap ?? process.env.EDGE_BRIDGE_BOOTSTRAP ?? path.join(HERE, 'bootstrap');
    this.timeoutMs = opts.timeoutMs ?? 29_000;
    this.env = opts.env ?? {};
    this.queue = []; // events waiting for the binary's /next
    this.waiting = null; // the binary's pending /next response
    this.inflight = new Map(); // request id -> {resolve, reject}
    this.child = null;
    this.server = null;
    this.port = 0;
  }

  async start() {
    if (!this.server) {
      this.server = createServer((req, res) => this.#route(req, res));
      await new Promise((ok) => this.server.listen(0, '127.0.0.1', ok));
      this.port = this.server.address().port;
      this.server.unref();
    }
    if (!this.child) this.#spawn();
  }

  #spawn() {
    const env = {
      AWS_LAMBDA_FUNCTION_NAME: 'edge-resize',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_STREAM_NAME: 'bridge',
      AWS_LAMBDA_LOG_GROUP_NAME: 'bridge',
      ...process.env,
      ...this.env,
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${this.port}`,
    };
    // Its own process group, so a kill also ends anything the bootstrap started.
    const child = spawn(this.bootstrap, [], { cwd: path.dirname(this.bootstrap), env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
    this.child = child;
    const gone = (why) => {
      if (this.child !== child) return;
      this.child = null;
      this.waiting = null;
      for (const [id, p] of this.inflight) p.reject(new Error(`bootstrap ${why} while handling ${id}`));
      this.inflight.clear();
    };
    child.on('exit', (code, sig) => gone(`exited (${sig ?? code})`));
    child.on('error', (e) => gone(`failed to start: ${e.message}`));
  }

  /** Forward one event; resolves with the binary's answer. */
  async invoke(event, remainingMs = this.timeoutMs) {
    await this.start();
    const id = randomUUID();
    const budget = Math.max(1, Math.min(this.timeoutMs, remainingMs - MARGIN_MS));
    const deadline = Date.now() + budget;
    const result = new Promise((resolve, reject) => this.inflight.set(id, { resolve, reject }));
    this.queue.push({ id, event, deadline });
    this.#dispatch();
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        this.inflight.delete(id);
        this.queue = this.queue.filter((q) => q.id !== id);
        this.kill();
        reject(new Error(`bootstrap did not answer within ${budget} ms`));
      }, budget);
    });
    try {
      return await Promise.race([result, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill() {
    if (this.child) {
      const c = this.child;
      this.child = null;
      this.waiting = null;
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        c.kill('SIGKILL');
      }
    }
  }

  #dispatch() {
    if (!this.waiting || this.queue.length === 0) return;
    const { id, event, deadline } = this.queue.shift();
    const res = this.waiting;
    this.waiting = null;
    res.writeHead(200, {
      'content-type': 'application/json',
      'lambda-runtime-aws-request-id': id,
      'lambda-runtime-deadline-ms': String(deadline),
      'lambda-runtime-invoked-function-arn': process.env.EDGE_BRIDGE_FUNCTION_ARN ?? 'arn:aws:lambda:us-east-1:000000000000:function:edge-resize',
      'lambda-runtime-trace-id': '',
    });
    res.end(JSON.stringify(event));
  }

  #route(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
        this.waiting = res;
        this.#dispatch();
        return;
      }
      const m = url.match(/^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/);
      if (req.method === 'POST' && m) {
        const p = this.inflight.get(m[1]);
        this.inflight.delete(m[1]);
        if (p && m[2] === 'response') {
          try {
            p.resolve(JSON.parse(body));
          } catch (e) {
            p.reject(new Error(`bootstrap answered invalid JSON: ${e.message}`));
          }
        } else if (p) {
          let msg = body;
          try {
            const e = JSON.parse(body);
            msg = `${e.errorType}: ${e.errorMessage}`;
          } catch {}
          p.reject(new Error(msg));
        }
        res.writeHead(202).end('{"status":"OK"}');
        return;
      }
      if (req.method === 'POST' && url === `${PREFIX}/init/error`) {
        res.writeHead(202).end('{"status":"OK"}');
        return;
      }
      res.writeHead(404).end();
    });
  }
}

const bridge = new Bridge();

/** The Lambda@Edge entry point. */
export const handler = async (event, context) =>
  bridge.invoke(event, context?.getRemainingTimeInMillis?.() ?? bridge.timeoutMs);
