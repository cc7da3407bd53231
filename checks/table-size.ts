import { estimateTarget } from '../src/core/estimate.js';
import type { Finding } from '../src/core/types.js';
import { formatBytes, formatCount } from '../src/core/units.js';
import { defineCheck, statusOf } from './types.js';

type Option = 'rowsWarn' | 'sizeWarn' | 'maxRows' | 'maxSize';

export default defineCheck<Option>({
  id: 'table-size',
  title: 'Table size',
  why: 'A migration that rewrites or scans the table holds its lock for as long as that takes; on a large table that is minutes of blocked traffic. The size is a fact about the migration, not about the moment: ADD COLUMN is instant on any size. So it is information; with --migration, migration-risk judges it against what each statement does. Thresholds set here are the team\'s own policy.',
  privileges: 'none (pg_class is readable by every role)',
  unchangedByWaiting: true,
  options: {
    rowsWarn: { kind: 'count', atMost: 'maxRows', default: null, flag: 'rows-warn', description: 'warn at this many estimated rows (off unless set)' },
    sizeWarn: { kind: 'size', atMost: 'maxSize', default: null, flag: 'size-warn', description: 'warn at this total size, heap + indexes + TOAST (off unless set)' },
    maxRows: { kind: 'count', default: null, flag: 'rows-fail', formerly: 'max-rows', description: 'fail at this many estimated rows (off unless set; was --max-rows)' },
    maxSize: { kind: 'size', default: null, flag: 'size-fail', formerly: 'max-size', description: 'fail at this total size (off unless set; was --max-size)' },
  },
  evaluate(snapshot, { optionsFor, migration }) {
    const findings: Finding[] = [];
    const block = snapshot.server.blockSize;
    for (const target of snapshot.targets) {
      const limits = optionsFor(target);
      // Partitioned parents have no storage of their own; their leaves carry the rows.
      const estimate = estimateTarget(target, block);
      const { rows, bytes: total, heapBytes, indexBytes, toastBytes } = estimate;
      const details = {
        rows,
        heapBytes,
        indexBytes,
        toastBytes,
        totalBytes: total,
        totalBytesAtMost: estimate.bytesAtMost,
        rowSource: estimate.sources.join(' + ') || null,
        partitions: estimate.heaps.length,
        neverAnalyzed: estimate.neverAnalyzed.length,
      };
      const sizeText = total !== null && heapBytes !== null && toastBytes !== null ? `${formatBytes(total)} (heap ${formatBytes(heapBytes)}, indexes ${formatBytes(indexBytes)}, TOAST ${formatBytes(toastBytes)})` : `size unknown until VACUUM/ANALYZE${estimate.bytesAtMost !== null ? ` (at most ${formatBytes(estimate.bytesAtMost)} of heap and TOAST)` : ''}`;
      const what = `${target.qualifiedName}: ${rows !== null ? `~${formatCount(rows)} rows` : 'no row estimate'}, ${sizeText}`;
      let severity: Finding['severity'] = 'info';
      const reasons: string[] = [];
      if (limits.maxRows !== null && rows !== null && rows >= limits.maxRows) reasons.push(`rows at or over --rows-fail ${formatCount(limits.maxRows)}`);
      if (limits.maxSize !== null && total !== null && total >= limits.maxSize) reasons.push(`size at or over --size-fail ${formatBytes(limits.maxSize)}`);
      // A limit that cannot be checked fails closed: unknown is not small.
      if (limits.maxRows !== null && rows === null) reasons.push('no row estimate to compare with --rows-fail');
      if (limits.maxSize !== null && total === null && (estimate.bytesAtMost === null || estimate.bytesAtMost >= limits.maxSize)) reasons.push('no byte size to compare with --size-fail');
      if (reasons.length > 0) severity = 'fail';
      else {
        if (limits.rowsWarn !== null && rows !== null && rows >= limits.rowsWarn) reasons.push(`at or over ${formatCount(limits.rowsWarn)} rows`);
        if (limits.sizeWarn !== null && total !== null && total >= limits.sizeWarn) reasons.push(`at or over ${formatBytes(limits.sizeWarn)}`);
        if (reasons.length > 0) severity = 'warn';
      }
      const sources = estimate.sources.length > 0 ? `rows from ${estimate.sources.join(' + ')}` : 'no statistics';
      findings.push({
        kind: 'table-size', severity, target: target.qualifiedName, relation: target.qualifiedName,
        message: `${what}${reasons.length > 0 ? `: ${reasons.join(', ')}` : ''}; ${sources}, pages from pg_class as of the last VACUUM/ANALYZE`,
        details,
      });
      if (estimate.unknown.length > 0) {
        // Without a size decision to make (no threshold set, no migration to weigh it) a
        // missing estimate changes nothing: information. Autovacuum never analyzes a table
        // with fewer than 50 changed rows, so small new tables stay like this for good.
        const decides = migration !== undefined || reasons.length > 0 || limits.rowsWarn !== null || limits.sizeWarn !== null || limits.maxRows !== null || limits.maxSize !== null;
        findings.push({
          kind: 'never-analyzed', severity: severity === 'fail' ? 'fail' : decides ? 'warn' : 'info', target: target.qualifiedName,
          relation: estimate.unknown.join(', '),
          message: `${estimate.unknown.join(', ')} ${estimate.unknown.length === 1 ? 'has' : 'have'} never been analyzed or vacuumed and the statistics have no count: there is no row estimate. Run ANALYZE ${target.qualifiedName}`,
          remediation: { sql: `ANALYZE ${target.qualifiedName};`, note: 'collects statistics (takes ShareUpdateExclusiveLock, which does not block reads or writes)' },
        });
      }
    }
    const status = statusOf(findings);
    const sizes = findings.filter((f) => f.kind === 'table-size').map((f) => `${f.target}: ${typeof f.details?.rows === 'number' ? `~${formatCount(f.details.rows)} rows` : 'no row estimate'}, ${typeof f.details?.totalBytes === 'number' ? formatBytes(f.details.totalBytes) : 'size unknown'}`);
    return { status, summary: sizes.join('; ') + (findings.some((f) => f.kind === 'never-analyzed') ? ' (no estimate: never analyzed, ANALYZE it)' : ''), findings };
  },
});
