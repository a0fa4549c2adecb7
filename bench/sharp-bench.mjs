// The sharp side of `make bench-compare`: the same task, single-threaded, timed in a loop.
// usage: node sharp-bench.mjs IN OUT WIDTH HEIGHT QUALITY ITERATIONS [jpg|webp|avif [EFFORT]]  (0 = auto)
// EFFORT: sharp's AVIF effort, 0 (fastest) to 9; default 4, sharp's own.
import { readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';

const [input, output, w, h, q, n, format = 'jpg', effort = '4'] = process.argv.slice(2);
sharp.concurrency(1); // one libvips thread, like one Lambda vCPU
sharp.cache(false);
const src = readFileSync(input);
const width = Number(w) || null;
const height = Number(h) || null;
const encoder = () => {
  if (format === 'webp') return ['webp', { quality: Number(q) }];
  if (format === 'avif') return ['avif', { quality: Number(q), effort: Number(effort) }];
  return ['jpeg', { quality: Number(q), progressive: true }];
};
const run = () =>
  sharp(src)
    .rotate()
    .resize(width, height, { fit: 'cover', kernel: 'lanczos3', withoutEnlargement: true })
    .toFormat(...encoder())
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
