// `pgpreflight config`: the effective configuration `check` would use, each value with its
// source (flag, environment variable, config file key, default). Databases show
// user@host:port/database and the variable their URL came from, never a password.
import { CHECKS } from '../../../checks/index.js';
import type { OptionSpec } from '../../../checks/types.js';
import { shown } from '../../config/config-file.js';
import { redact } from '../../core/errors.js';
import { secretsOf } from '../../gate/gate.js';
import { resolveSettings, type Settings, type Sourced } from '../../config/settings.js';
import { formatBytes, formatCount, formatDuration } from '../../core/units.js';
import { hanging, wrapWords } from '../../core/text.js';
import { terminalWidth } from './shared.js';
import { configFor, gateFlags } from './check.js';
import type { CommandModule } from './types.js';

function valueText(spec: OptionSpec, value: number | null): string {
  if (value === null) return 'off';
  return spec.kind === 'duration' ? formatDuration(value) : spec.kind === 'size' ? formatBytes(value) : formatCount(value);
}

interface Row {
  key: string;
  value: string;
  source: string;
}

function rowsOf(settings: Settings): Row[] {
  const row = <T>(key: string, sourced: Sourced<T>, show: (v: T) => string): Row => ({ key, value: show(sourced.value), source: sourced.source });
  const rows: Row[] = [
    row('format', settings.format, String),
    row('fail-on', settings.failOn, String),
    row('lock-mode', settings.lockMode, String),
    row('timeout', settings.timeoutMs, formatDuration),
    row('wait', settings.waitMs, (ms) => (ms === 0 ? 'off' : formatDuration(ms))),
    row('wait-max-interval', settings.waitMaxIntervalMs, formatDuration),
    row('parallel', settings.concurrency, String),
    row('checks', settings.checks, (checks) => checks.map((c) => c.id).join(', ') || '(none)'),
  ];
  for (const check of CHECKS) {
    for (const [key, spec] of Object.entries(check.options)) {
      const sourced = settings.thresholds[check.id]?.[key];
      if (sourced) rows.push({ key: `${check.id}.${key}`, value: valueText(spec, sourced.value), source: sourced.source });
    }
  }
  for (const [table, byCheck] of Object.entries(settings.tableOptions)) {
    for (const [checkId, values] of Object.entries(byCheck)) {
      const check = CHECKS.find((c) => c.id === checkId);
      for (const [key, value] of Object.entries(values)) {
        const spec = check?.options[key];
        if (spec) rows.push({ key: `table ${table}: ${checkId}.${key}`, value: valueText(spec, value), source: `${settings.configPath ? shown(settings.configPath) : ''}: tables.${table}.${checkId}.${key}` });
      }
    }
  }
  for (const db of settings.databases.value) {
    rows.push({
      key: `database ${db.name}`,
      value: `${db.unavailable ?? db.connection.display}${db.optional ? ' (optional)' : ''}`,
      source: `${settings.databases.source}${db.urlSource !== settings.databases.source ? ` (URL from ${db.urlSource})` : ''}`,
    });
    for (const replica of db.replicas) rows.push({ key: `replica of ${db.name}`, value: replica.display, source: db.replicaSource ?? '' });
  }
  return rows;
}

const config: CommandModule = {
  builder: (y) =>
    gateFlags(y, { format: false })
      .option('format', { choices: ['table', 'json'], default: 'table', describe: 'output format on stdout (--json was the old spelling of --format json)' })
      .example('$0 config', 'what `pgpreflight check` would use here, and why')
      .example('$0 config --config ci/pgpreflight.yaml --format json', 'the same for another file, as JSON'),
  async handler(args, io) {
    const file = await configFor(args, io);
    // --format is config's own output; the format row shows what check would use from the environment or the file.
    const settings = resolveSettings({ args: { ...args, format: undefined }, env: io.env, config: file });
    const rows = rowsOf(settings);
    const secrets = secretsOf(settings.databases.value);
    if (args.format === 'json') {
      io.stdout.write(redact(`${JSON.stringify({ configFile: settings.configPath, settings: rows }, null, 2)}\n`, secrets));
      return 0;
    }
    // Three columns fitted to the terminal: a long value (the check list, a URL) wraps within its
    // column, the source stays on the value's first line.
    const width = terminalWidth(io) ?? 80;
    const keyWidth = Math.max(...rows.map((r) => r.key.length));
    const sourceWidth = Math.max(...rows.map((r) => r.source.length));
    const valueWidth = Math.max(12, Math.min(Math.max(...rows.map((r) => r.value.length)), width - keyWidth - sourceWidth - 4));
    const lines = [...hanging('config file: ', settings.configPath ?? 'none found (pgpreflight.config.json, .pgpreflightrc[.json|.yaml|.yml], package.json "pgpreflight")', width), ''];
    lines.push(`${'setting'.padEnd(keyWidth)}  ${'value'.padEnd(valueWidth)}  source`);
    for (const r of rows) {
      const [first = '', ...rest] = wrapWords(r.value, valueWidth);
      lines.push(`${r.key.padEnd(keyWidth)}  ${first.padEnd(valueWidth)}  ${r.source}`);
      for (const more of rest) lines.push(`${' '.repeat(keyWidth + 2)}${more}`);
    }
    io.stdout.write(redact(`${lines.join('\n')}\n`, secrets));
    return 0;
  },
};

export default config;
