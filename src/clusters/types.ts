// The one interface the demo, the tests and the benchmark use for a throwaway cluster,
// whichever backend runs it (src/clusters/cluster.ts picks one).
import type pg from 'pg';

/** embedded: a local server process from npm-shipped or system binaries; testcontainers: a container. */
export type ClusterBackend = 'embedded' | 'testcontainers';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

export interface ClusterOptions {
  /** PostgreSQL major version; defaults to PGPREFLIGHT_PG_MAJOR or DEFAULT_MAJOR. */
  major?: number;
  /** Directory holding initdb and postgres; overrides the major lookup (embedded only). */
  binDir?: string;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string | number | boolean>;
  /**
   * pg_hba.conf lines placed before the defaults (which trust 127.0.0.1). In a container,
   * where the host's connections arrive from the bridge's gateway, 127.0.0.1/32 means any address.
   */
  hba?: string[];
  /** Password for the bootstrap superuser `postgres` (needed for scram tests). */
  superuserPassword?: string;
  /**
   * Called with a directory whose files end up in the data directory, after initdb and before
   * the first start: the data directory itself (embedded), or a staging directory whose files
   * are copied in with mode 0600 (testcontainers).
   */
  beforeStart?: (dataDir: string, owner: OsUser) => void;
  /** Where the server runs [default: embedded]. */
  backend?: ClusterBackend;
  /** testcontainers: the image [default: PGPREFLIGHT_TEST_IMAGE, else postgres:<major>]. */
  image?: string;
}

export interface ConnectOptions {
  user?: string;
  password?: string;
  database?: string;
  applicationName?: string;
}

export type ServerSignal = 'SIGSTOP' | 'SIGCONT' | 'SIGKILL' | 'SIGTERM' | 'SIGINT';

/** What only a container can do to a server: freeze it, kill it, cut its network. */
export interface ContainerFaults {
  readonly id: string;
  /** Freezes every process of the server (docker pause): nothing answers, nothing times out. */
  pause(): Promise<void>;
  unpause(): Promise<void>;
  /** Kills the whole container at once (docker kill): no shutdown, connections die with it. */
  kill(): Promise<void>;
  /** Disconnects the container from its network (docker network disconnect): packets go nowhere. */
  disconnect(): Promise<void>;
}

export interface Cluster {
  readonly backend: ClusterBackend;
  readonly host: string;
  readonly port: number;
  readonly major: number;
  /** The server's bin directory (inside the container for testcontainers). */
  readonly binDir: string;
  /** The data directory (inside the container for testcontainers). */
  readonly dataDir: string;
  /** The server's log, a file on this machine for both backends. */
  readonly logFile: string;
  url(options?: ConnectOptions): string;
  connect(options?: ConnectOptions): Promise<pg.Client>;
  /** Runs SQL as the superuser on a short-lived connection. */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  startStandby(options?: { slotName?: string; settings?: ClusterOptions['settings'] }): Promise<Cluster>;
  /** Stops the server (fast shutdown) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Sends a signal to one server process (a pid from pg_backend_pid()), wherever the server runs. */
  signal(pid: number, signal: ServerSignal): Promise<void>;
  /** The faults only a container can stage; undefined on the embedded backend. */
  readonly container?: ContainerFaults;
}
