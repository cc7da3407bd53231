// Help text shared by the top-level help and every command that connects.

/** libpq's precedence, as `--help` states it (docs/cli.md has the details). */
export const CONNECTION_EPILOGUE =
  'Connecting (check, run, locks, config): as psql, -h/--host, -p/--port, -U/--username, -d/--dbname; --url takes a URL (postgresql://user@host:5432/db) or a libpq keyword/value string ("host=db port=5432 dbname=app"). ' +
  'Precedence, per setting: explicit -h/-p/-U/-d > --url > DATABASE_URL > PGHOST/PGPORT/PGUSER/PGDATABASE > libpq defaults. Password: the URL, PGPASSWORD, then ~/.pgpass (or PGPASSFILE). ' +
  'An empty --url or DATABASE_URL is an error, never the default server.';
