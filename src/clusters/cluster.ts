// Throwaway PostgreSQL clusters for the demo, the tests and the benchmark, behind one
// interface (src/clusters/types.ts) with two backends:
//   embedded        a local server process (src/clusters/embedded.ts), the default;
//   testcontainers  a container from an image (src/clusters/container.ts), loaded only when
//                   asked for, so nothing else pays for testcontainers.
// This facade is for the tests and the benchmark. CLI code (demo, trace) imports
// src/clusters/embedded.ts directly, so the CLI bundle never reaches testcontainers.
import { startEmbeddedCluster } from './embedded.js';
import { resolveBinDir } from './platform.js';
import type { Cluster, ClusterBackend, ClusterOptions } from './types.js';

export type { Cluster, ClusterBackend, ClusterOptions, ConnectOptions, ContainerFaults, OsUser, ServerSignal } from './types.js';
export { DEFAULT_MAJOR, EMBEDDED_PACKAGES, EMBEDDED_VERSIONS, SUPPORTED_MAJORS, embeddedPackageName, installAdvice, installedEmbeddedPackages, majorOfBinDir, projectRoot, resolveBinDir } from './platform.js';
export { freePort } from './shared.js';
export { chownTree, runAs, serverOsUser } from './os-user.js';

export const BACKENDS: readonly ClusterBackend[] = ['embedded', 'testcontainers'];

/** The backend PGPREFLIGHT_TEST_BACKEND asks for (embedded when unset); a typo is an error, not a silent default. */
export function backendFromEnv(env: Record<string, string | undefined> = process.env): ClusterBackend {
  const value = env.PGPREFLIGHT_TEST_BACKEND;
  if (value === undefined || value === '') return 'embedded';
  if ((BACKENDS as readonly string[]).includes(value)) return value as ClusterBackend;
  throw new Error(`PGPREFLIGHT_TEST_BACKEND must be one of ${BACKENDS.join(', ')}, got "${value}"`);
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  if ((options.backend ?? 'embedded') === 'testcontainers') {
    const { startContainerCluster } = await import('./container.js');
    return startContainerCluster(options);
  }
  return startEmbeddedCluster(options);
}

/** Used by scripts and tests that need to know whether a major can be started here. */
export function canStartMajor(major: number): boolean {
  try {
    resolveBinDir({ major });
    return true;
  } catch {
    return false;
  }
}
