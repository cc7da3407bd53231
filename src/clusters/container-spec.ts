// What a container cluster is made of, apart from testcontainers itself (so that reading it
// loads no Docker client): the image, the paths inside, the script that makes the cluster,
// and pg_hba.conf as seen from inside.
import { DEFAULT_MAJOR } from './platform.js';
import type { ClusterOptions } from './types.js';

export const PGDATA = '/var/tmp/pgpreflight-data';
export const IN = '/pgpreflight/in';
export const OUT = '/pgpreflight/out';

/** Runs as the image's postgres user: makes the cluster on first start, then becomes the server. */
export const ENTRYPOINT = `set -eu
exec >>${OUT}/postgres.log 2>&1
if ! command -v postgres >/dev/null 2>&1; then
  for dir in /usr/lib/postgresql/*/bin; do PATH="$dir:$PATH"; done
fi
dirname "$(command -v postgres)" >${OUT}/bindir
if [ ! -s ${PGDATA}/PG_VERSION ]; then
  if [ -f ${IN}/primary ]; then
    read -r primary slot <${IN}/primary
    pg_basebackup -h "$primary" -p 5432 -U postgres -D ${PGDATA} -X stream --checkpoint=fast \${slot:+-S "$slot"}
    touch ${PGDATA}/standby.signal
    cat ${IN}/postgresql.conf >>${PGDATA}/postgresql.auto.conf
  else
    pwfile=""
    if [ -f ${IN}/pwfile ]; then pwfile="--pwfile=${IN}/pwfile"; fi
    initdb -D ${PGDATA} -U postgres -A trust -E UTF8 --locale=C --no-sync $pwfile >/dev/null
    cat ${IN}/postgresql.conf >>${PGDATA}/postgresql.conf
    cp ${IN}/pg_hba.conf ${PGDATA}/pg_hba.conf
    for file in ${IN}/files/*; do
      [ -f "$file" ] || continue
      cp "$file" ${PGDATA}/
      chmod 600 "${PGDATA}/$(basename "$file")"
    done
  fi
fi
exec postgres -D ${PGDATA} -p 5432
`;

/** pg_hba.conf lines for the container: the host's connections arrive from the bridge's gateway, not 127.0.0.1. */
export function containerHba(lines: readonly string[]): string[] {
  return [...lines.map((line) => line.replace(/(^|\s)127\.0\.0\.1\/32(?=\s|$)/g, '$1all')), 'host all all all trust', 'host replication all all trust'];
}

export function defaultImage(options: ClusterOptions, env: Record<string, string | undefined> = process.env): string {
  if (options.image) return options.image;
  if (env.PGPREFLIGHT_TEST_IMAGE) return env.PGPREFLIGHT_TEST_IMAGE;
  const major = options.major ?? (env.PGPREFLIGHT_PG_MAJOR ? Number(env.PGPREFLIGHT_PG_MAJOR) : DEFAULT_MAJOR);
  return `postgres:${major}`;
}
