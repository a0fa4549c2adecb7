// The sharp side of `make bench-compare`: the same task, single-threaded, timed in a loop.
// usage: node sharp-bench.mjs IN OUT WIDTH HEIGHT QUALITY ITERATIONS [jpg|webp]  (0 = auto)
import { readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';

const [input, output, w, h, q, n, format = 'jpg'] = process.argv.slice(2);
sharp.concurrency(1); // one libvips thread, like one Lambda vCPU
sharp.cache(false);
const src = readFileSync(input);
const width = Number(w) || null;
const height = Number(h) || null;
const run = () =>
  sharp(src)
    .rotate()
    .resize(width, height, { fit: 'cover', kernel: 'lanczos3', withoutEnlargement: true })
    [format === 'webp' ? 'webp' : 'jpeg'](
      format === 'webp' ? { quality: Number(q) } : { quality: Number(q), progressive: true },
    )
    .toBuffer();

let out;
for (let i = 0; i < 2; i++) out = await run();
const times = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = process.hrtime.bigint();
  out = await run();
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
times.sort((a, b) => a - b);
writeFileSync(output, out);
console.log(JSON.stringify({
  median_ms: times[Math.floor(times.length / 2)],
  bytes: out.length,
  maxrss_kb: process.resourceUsage().maxRSS,
  sharp: sharp.versions,
}));
