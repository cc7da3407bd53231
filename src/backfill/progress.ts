// What a backfill shows while it runs. stdout carries only the chosen format: NDJSON
// events with --format json, the final summary either way. stderr carries the progress:
// a bar redrawn in place on a terminal, otherwise a line every --progress-interval, and
// one line for each pause, resume, yield, retry and note.
import { formatBytes, formatCount, formatDuration } from '../core/units.js';
import type { BackfillEvent, BackfillPlan, BackfillSummary, PauseReason } from './runner.js';
import { describeReplica } from './replicas.js';

type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ProgressOptions {
  stdout: Stream;
  stderr: Stream;
  format: 'table' | 'json';
  intervalMs: number;
  /** Applied to every line written (redaction). */
  clean: (text: string) => string;
  now?: () => number;
}

const REASON_TEXT: Record<PauseReason, string> = {
  'replica-lag': 'replica lag',
  'lock-queue': 'the lock queue',
  'advisory-lock': 'another backfill',
};

const PREFIX = 'pgpreflight backfill:';

export class BackfillProgress {
  private readonly now: () => number;
  private readonly bar: boolean;
  private started = 0;
  private estimate: number | null = null;
  private walked = 0;
  private updated = 0;
  private lastBatch: { keys: number | null; ms: number } | null = null;
  private lag: number | null = null;
  private pausedFor: PauseReason | null = null;
  private pauses = 0;
  private lastLine = 0;
  private barShown = false;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.bar = Boolean(options.stderr.isTTY) && (options.stderr.columns ?? 0) > 0;
  }

  onEvent(event: BackfillEvent): void {
    if (this.options.format === 'json') this.options.stdout.write(this.options.clean(`${JSON.stringify({ ...event, time: new Date(this.now()).toISOString() })}\n`));
    switch (event.event) {
      case 'start': {
        this.started = this.now();
        this.lastLine = this.started;
        this.estimate = event.estimatedRows;
        const watched = event.replicas.filter((r) => r.notWatched === null);
        const sizing = event.batchTimeMs === null ? `batches of ${formatCount(event.batchSize)} keys` : `batches adapting to ${formatDuration(event.batchTimeMs)} from ${formatCount(event.batchSize)} keys`;
        this.say(
          `${PREFIX} ${event.table} by ${event.key.join(', ')} (${event.keySource}), ${event.estimatedRows === null ? 'row count unknown (never analyzed)' : `~${formatCount(event.estimatedRows)} rows`}, ${sizing}${event.startAfter === null ? '' : `, after key ${event.startAfter}`}${watched.length > 0 ? `; watching ${watched.map((r) => r.name).join(', ')}` : ''}`,
        );
        for (const r of event.replicas.filter((x) => x.notWatched !== null)) this.say(`${PREFIX} not watched: ${describeReplica(r)}`);
        break;
      }
      case 'note':
        this.say(`${PREFIX} note: ${event.message}`);
        break;
      case 'batch':
        this.walked = event.rowsWalked;
        this.updated = event.rowsUpdated;
        this.lastBatch = { keys: event.keys, ms: event.ms };
        this.lag = event.lagBytes;
        this.tick();
        break;
      case 'pause':
        this.pausedFor = event.reason;
        this.pauses += 1;
        this.say(`${PREFIX} paused for ${REASON_TEXT[event.reason]}: ${event.detail}`);
        break;
      case 'waiting':
        this.say(`${PREFIX} still paused for ${REASON_TEXT[event.reason]} (${formatDuration(event.pausedMs)}): ${event.detail}`);
        break;
      case 'resume':
        this.pausedFor = null;
        this.say(`${PREFIX} resumed after ${formatDuration(event.pausedMs)} paused for ${REASON_TEXT[event.reason]}`);
        break;
      case 'yield':
        this.say(`${PREFIX} rolled back the batch after key ${event.after ?? '(start)'} to let ${event.detail} through`);
        break;
      case 'retry':
        this.say(`${PREFIX} the batch after key ${event.after ?? '(start)'} hit ${event.detail}; retry ${event.attempt} in ${formatDuration(event.delayMs)}`);
        break;
      case 'shrink':
        this.say(`${PREFIX} the batch after key ${event.after ?? '(start)'} hit statement_timeout: ${formatCount(event.from)} → ${formatCount(event.to)} keys per batch`);
        break;
      case 'stopping':
        this.say(event.rollback ? `${PREFIX} rolling back the current batch` : `${PREFIX} stopping after the current batch commits (Ctrl-C again rolls it back)`);
        break;
    }
  }

  /** Clears the bar before the summary. */
  finish(): void {
    if (this.barShown) this.options.stderr.write('\r\u001b[K');
    this.barShown = false;
  }

  private say(line: string): void {
    if (this.barShown) this.options.stderr.write('\r\u001b[K');
    this.options.stderr.write(this.options.clean(`${line}\n`));
    this.barShown = false;
    if (this.bar && this.started > 0) this.drawBar();
  }

  private tick(): void {
    if (this.bar) {
      this.drawBar();
      return;
    }
    if (this.now() - this.lastLine < this.options.intervalMs) return;
    this.lastLine = this.now();
    this.options.stderr.write(this.options.clean(`${PREFIX} ${this.status()}\n`));
  }

  private rate(): number {
    const seconds = (this.now() - this.started) / 1000;
    return seconds > 0 ? this.updated / seconds : 0;
  }

  private eta(): string | null {
    const seconds = (this.now() - this.started) / 1000;
    if (this.estimate === null || this.walked === 0 || seconds <= 0) return null;
    const remaining = Math.max(0, this.estimate - this.walked);
    return formatDuration((remaining / (this.walked / seconds)) * 1000);
  }

  private percent(): number | null {
    return this.estimate === null || this.estimate <= 0 ? null : Math.min(99, Math.floor((this.walked / this.estimate) * 100));
  }

  private status(): string {
    const percent = this.percent();
    const eta = this.eta();
    return [
      `${formatCount(this.walked)}${this.estimate === null ? '' : ` of ~${formatCount(this.estimate)}`} keys${percent === null ? '' : ` (${percent}%)`}`,
      `${formatCount(this.updated)} rows updated`,
      `${formatCount(this.rate())} rows/s`,
      eta === null ? null : `ETA ${eta}`,
      this.lastBatch ? `last batch ${this.lastBatch.keys === null ? 'the rest' : formatCount(this.lastBatch.keys)} keys in ${formatDuration(this.lastBatch.ms)}` : null,
      this.lag === null ? null : `replica lag ${formatBytes(this.lag)}`,
    ]
      .filter((part): part is string => part !== null)
      .join(', ');
  }

  private drawBar(): void {
    const columns = this.options.stderr.columns ?? 80;
    const percent = this.percent();
    const eta = this.eta();
    const facts = [
      `${formatCount(this.walked)}${this.estimate === null ? '' : `/~${formatCount(this.estimate)}`}`,
      `${formatCount(this.rate())} rows/s`,
      eta === null ? null : `ETA ${eta}`,
      this.lag === null ? null : `lag ${formatBytes(this.lag)}`,
      this.pausedFor !== null ? `PAUSED (${REASON_TEXT[this.pausedFor]})` : this.pauses > 0 ? `${this.pauses} pause${this.pauses > 1 ? 's' : ''}` : null,
    ].filter((part): part is string => part !== null);
    const text = ` ${percent === null ? '' : `${String(percent).padStart(2)}% `}${facts.join(' · ')}`;
    const width = Math.max(0, Math.min(30, columns - text.length - 3));
    const filled = percent === null ? 0 : Math.round((width * percent) / 100);
    const bar = width > 0 ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]` : '';
    this.options.stderr.write(this.options.clean(`\r\u001b[K${`${bar}${text}`.slice(0, Math.max(1, columns - 1))}`));
    this.barShown = true;
  }
}

/** The final summary for --format table. */
export function summaryText(summary: BackfillSummary, resume: string | null): string {
  const rate = summary.elapsedMs > 0 ? (summary.rowsUpdated / summary.elapsedMs) * 1000 : 0;
  const pauses = (Object.keys(summary.pauses) as PauseReason[])
    .filter((reason) => summary.pauses[reason] > 0)
    .map((reason) => `paused ${summary.pauses[reason]}× for ${REASON_TEXT[reason]} (${formatDuration(summary.pausedMs[reason])})`);
  const extra = [
    ...pauses,
    summary.yields > 0 ? `yielded ${summary.yields}× to the lock queue` : null,
    summary.retries > 0 ? `${summary.retries} lock retr${summary.retries > 1 ? 'ies' : 'y'}` : null,
  ].filter((part): part is string => part !== null);
  const work = `${formatCount(summary.rowsUpdated)} rows updated in ${formatCount(summary.batches)} batch${summary.batches === 1 ? '' : 'es'}, ${formatDuration(summary.elapsedMs)} (${formatCount(rate)} rows/s)${extra.length > 0 ? `; ${extra.join('; ')}` : ''}`;
  const head =
    summary.status === 'done'
      ? `${summary.table}: done. ${work}${summary.lastKey === null ? '' : `; last key ${summary.lastKey}`}`
      : summary.status === 'interrupted'
        ? `${summary.table}: interrupted${summary.lastKey === null ? ' before the first batch' : ` after key ${summary.lastKey}`}. ${work}`
        : `${summary.table}: ${summary.status === 'blocked' ? 'blocked' : 'stopped'}: ${summary.reason ?? 'unknown'}${summary.batches === 0 ? '' : `. ${work}`}`;
  return `${head}\n${resume === null ? '' : `Resume with: ${resume}\n`}`;
}

/** The --dry-run plan for --format table. */
export function planText(plan: BackfillPlan): string {
  const lines: string[] = [];
  const row = (label: string, value: string): void => void lines.push(`  ${`${label}:`.padEnd(16)}${value}`);
  lines.push(`Backfill plan for ${plan.table} (dry run: nothing was changed)`);
  row('key', `${plan.key.join(', ')} (${plan.keySource})`);
  row('rows', plan.estimatedRows === null ? 'unknown (the table was never analyzed)' : `~${formatCount(plan.estimatedRows)} (pg_class.reltuples)${plan.estimatedBatches === null ? '' : `, about ${formatCount(plan.estimatedBatches)} batches`}`);
  row('batches', plan.batchTimeMs === null ? `${formatCount(plan.batchSize)} keys each` : `adapting to ${formatDuration(plan.batchTimeMs)} each, from ${formatCount(plan.batchSize)} keys`);
  row('start', plan.startAfter === null ? 'at the first key' : `after key ${plan.startAfter}`);
  row('replicas', plan.replicas.length === 0 ? 'none streaming: lag does not hold the backfill' : plan.replicas.map(describeReplica).join('; '));
  if (!plan.replicasOk) row('replica lag', `over the limits now, the run would pause: ${plan.lagging.map((l) => `${l.name}: ${l.reason}`).join('; ')}`);
  row('advisory lock', `pg_try_advisory_lock(${plan.lockKey[0]}, ${plan.lockKey[1]})${plan.lockHolders.length > 0 ? ` — held now by pid ${plan.lockHolders.map((h) => h.pid).join(', ')}` : ' — free'}`);
  row('connection', plan.pooling.pooled ? `transaction pooling detected (${plan.pooling.evidence})` : 'one session per connection');
  for (const note of plan.notes) row('note', note);
  if (plan.queued.length > 0) {
    lines.push('', 'No plan: explaining the first batch would queue behind the session waiting for the table.');
  } else if (plan.firstBatch === null) {
    lines.push('', 'Nothing to do: no key lies after the start.');
  } else {
    const from = plan.firstBatch.from === null ? '' : `after ${plan.firstBatch.from} `;
    lines.push('', `First batch (keys ${from}up to ${plan.firstBatch.to}${plan.firstBatch.last ? ', the last batch' : ''}), parameters ${JSON.stringify(plan.firstBatch.params)}:`, '');
    lines.push(...plan.firstBatch.sql.split('\n').map((l) => `  ${l}`), '', 'EXPLAIN:', ...plan.explain.map((l) => `  ${l}`));
    if (plan.keyScan) lines.push('', `Upper key of each batch: ${plan.keyScan.scan}${plan.keyScan.ok ? ' (keys read in index order)' : ` — ${plan.keyScan.problem ?? ''}`}`);
    if (plan.scan) lines.push(`${plan.keyScan ? '' : '\n'}Rows of each batch: ${plan.scan.scan}${plan.scan.ok ? ' (a range of the key\'s index)' : ` — ${plan.scan.problem ?? ''}`}`);
  }
  if (plan.blockers.length > 0) lines.push('', ...plan.blockers.map((b) => `A run would not start now: ${b}`));
  return `${lines.join('\n')}\n`;
}
