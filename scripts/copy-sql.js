// tsc does not copy non-TS files: put the migrations beside the compiled store.
import { cpSync } from 'node:fs';
cpSync('src/server/store/migrations', 'dist/server/store/migrations', { recursive: true });
