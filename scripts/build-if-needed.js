// `npm start` builds first when dist/ is missing or older than the sources.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const built = ['dist/server/main.js', 'dist/web/index.html'].every((f) => existsSync(f));
if (!built || newest('src') > Math.min(statSync('dist/server/main.js').mtimeMs, statSync('dist/web/index.html').mtimeMs)) {
  console.log('building Sundial (server and web UI)…');
  execSync('npm run build', { stdio: 'inherit' });
}
