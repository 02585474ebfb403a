// `sundial serve`: one node. Several nodes with the same DATABASE_URL form a cluster.
import { ConfigError, loadConfig, USAGE } from './config.js';
import { startApp } from './app.js';
import { StartupRefused } from './store/embedded-postgres.js';

const SHUTDOWN_DEADLINE_MS = 9000;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'tasks' || command === 'runs') {
    // the API client's commands (src/client/cli.ts), compiled by tsconfig.client.json
    const cli = (await import(new URL('../client/cli.js', import.meta.url).href)) as { runCli(argv: string[]): Promise<number> };
    process.exitCode = await cli.runCli(argv);
    return;
  }
  if (command !== 'serve') {
    process.stderr.write(`unknown command ${JSON.stringify(command ?? '')}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  let config;
  try {
    config = loadConfig(rest);
  } catch (err) {
    if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  let app;
  try {
    app = await startApp(config);
  } catch (err) {
    if (err instanceof StartupRefused) {
      // one line that says what to do, no stack trace
      process.stderr.write(`sundial: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) {
      app.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    app.log.info({ signal }, 'draining');
    const deadline = setTimeout(() => {
      app.log.error('drain took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    app.stop().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
