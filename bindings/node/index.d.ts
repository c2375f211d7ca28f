/** The environment variable that names the module explicitly. */
export declare const ENV_VAR: 'VELES_PATH';

/**
 * The full path of the veles loadable extension: $VELES_PATH when set,
 * else veles.so beside this package, else the repository's build/veles.so.
 * Throws an Error (code 'ENOENT') naming every place looked at.
 */
export declare function getLoadablePath(): string;

/** What load() needs: better-sqlite3's Database, node:sqlite's DatabaseSync. */
export interface ExtensionLoadable {
  loadExtension(path: string, entryPoint?: string): unknown;
  enableLoadExtension?(allow: boolean): void;
}

/** Load veles into an open database. */
export declare function load(db: ExtensionLoadable): void;
