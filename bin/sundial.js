#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { register } from 'node:module';

// Before the server (and its database driver) load: see postgres-js-fix.mjs.
register('./postgres-js-fix.mjs', import.meta.url);

const entry = new URL('../dist/server/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('Sundial is not built yet: run `npm run build` (or `npm start`, which builds first).');
  process.exit(1);
}
const { main } = await import(entry.href);
main(process.argv.slice(2)).catch((err) => {
  console.error(err?.stack ?? err);
  process.exit(1);
});
