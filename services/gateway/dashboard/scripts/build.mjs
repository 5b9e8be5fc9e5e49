// Builds the dashboard into dist/: src/main.js bundled and minified by esbuild into app.js,
// src/index.html and src/app.css copied. Everything the page loads comes from dist/ (no CDN).
//
//   node scripts/build.mjs          (npm run build)
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const result = await build({
  entryPoints: [join(src, 'main.js')],
  outfile: join(dist, 'app.js'),
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2020'],
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
});
await copyFile(join(src, 'index.html'), join(dist, 'index.html'));
await copyFile(join(src, 'app.css'), join(dist, 'app.css'));

const bytes =
  result.metafile.outputs['dist/app.js']?.bytes ?? Object.values(result.metafile.outputs)[0]?.bytes;
console.error(`dashboard: dist/app.js ${bytes} bytes, dist/index.html, dist/app.css`);
