// `pgpreflight checks` and docs/checks.md's check list both come from the checks' own
// metadata, so the documentation cannot drift from the code.
import { CHECKS } from '../../checks/index.js';
import { FINDING_KINDS } from '../core/finding-kinds.js';
import { hanging } from '../core/text.js';

export function checkCatalog(): {
  id: string;
  title: string;
  why: string;
  privileges: string;
  options: { flag: string; kind: string; default: string | null; description: string; limits: string[] }[];
}[] {
  return CHECKS.map((c) => ({
    id: c.id,
    title: c.title,
    why: c.why,
    privileges: c.privileges,
    options: Object.values(c.options).map((o) => ({
      flag: `--${o.flag}`,
      kind: o.kind,
      default: o.default,
      description: o.description,
      // What the gate refuses (exit 2), from the same metadata it checks with.
      limits: [
        ...(o.percent ? ['a percentage, 0 to 100'] : []),
        ...(o.positive ? ['more than 0'] : []),
        ...(o.atMost !== undefined && c.options[o.atMost] ? [`not above --${(c.options[o.atMost] as { flag: string }).flag} set alongside it`] : []),
      ],
    })),
  }));
}

/** The catalog in a format; the text one is wrapped to `width` columns (the terminal's). */
export function listChecks(format: 'text' | 'json' | 'markdown', width = 80): string {
  const catalog = checkCatalog();
  if (format === 'json') return `${JSON.stringify(catalog, null, 2)}\n`;
  if (format === 'markdown') {
    return (
      catalog
        .map((c) =>
          [
            `### \`${c.id}\` — ${c.title}`,
            '',
            c.why,
            '',
            `Privileges: ${c.privileges}.`,
            '',
            ...(c.options.length === 0
              ? ['No thresholds.']
              : [
                  '| flag | default | meaning |',
                  '| --- | --- | --- |',
                  ...c.options.map((o) => `| \`${o.flag}\` | ${o.default === null ? 'off' : `\`${o.default}\``} | ${o.description}${o.limits.length > 0 ? ` (${o.limits.join('; ')})` : ''} |`),
                ]),
          ].join('\n'),
        )
        .join('\n\n') + '\n'
    );
  }
  return (
    catalog
      .map((c) =>
        [
          ...hanging(`${c.id}  `, c.title, width, 2),
          ...hanging('  ', c.why, width),
          ...hanging('  privileges: ', c.privileges, width, 4),
          ...c.options.flatMap((o) => hanging(`  --${o.flag.replace(/^--/, '')} ${o.default ?? 'off'}  `, o.description, width, 6)),
        ].join('\n'),
      )
      .join('\n\n') + '\n'
  );
}

/** The published list of finding kinds as a Markdown table, for docs/json.md. */
export function listFindingKinds(): string {
  const rows = Object.entries(FINDING_KINDS)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, k]) => `| \`${kind}\` | \`${k.check}\` | ${k.description} |`);
  return ['| kind | check | meaning |', '| --- | --- | --- |', ...rows].join('\n') + '\n';
}
