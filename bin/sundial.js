#!/usr/bin/env node
import { existsSync } from 'node:fs';

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
