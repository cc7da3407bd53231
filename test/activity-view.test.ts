// The activity model and its screens, on synthetic samples (no server): classes, AAS, the
// hypothesis, and a chart frame that fits the terminal it is drawn for.
import { describe, expect, it } from 'vitest';
import { classOf, WAIT_CLASSES } from '../src/activity/classes.js';
import { chartLines, GLYPHS, niceCeil, renderWatchScreen } from '../src/activity/chart.js';
import { activityReport } from '../src/activity/report.js';
import { normalizeQuery, secondsOf, summarize, type ActiveSession, type ActivitySample } from '../src/activity/summary.js';
import { renderActivityMarkdown, renderActivityTable, streamHeader, streamLine } from '../src/activity/view.js';

const session = (over: Partial<ActiveSession>): ActiveSession => ({
  pid: 1, leaderPid: null, database: 'shop', user: 'app', application: 'web', backendType: 'client backend',
  waitEventType: null, waitEvent: null, queryId: null, query: 'SELECT 1', ...over,
});

/** `count` samples 100 ms apart from t0, each with the given sessions. */
function samples(count: number, sessions: ActiveSession[], options: { t0?: number; hidden?: number } = {}): ActivitySample[] {
  return Array.from({ length: count }, (_, i) => ({ at: (options.t0 ?? 1_000_000) + i * 100, hidden: options.hidden ?? 0, sessions }));
}

const pileUp = Array.from({ length: 20 }, (_, i) => session({ pid: 100 + i, waitEventType: 'Lock', waitEvent: i === 0 ? 'transactionid' : 'tuple', query: `UPDATE hot SET v = v + 1 WHERE id = ${i % 3}`, application: 'pile-up' }));
const onCpu = (n: number): ActiveSession[] => Array.from({ length: n }, (_, i) => session({ pid: 200 + i, query: `SELECT sum(x) FROM t WHERE k = '${i}'` }));

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const visible = (line: string): number => [...line.replace(ANSI, '')].length;

describe('wait classes', () => {
  it('reads no wait event as CPU, leaves out the idle Activity class, and names unknown classes Other', () => {
    expect(classOf(null)).toBe('CPU');
    expect(classOf('Lock')).toBe('Lock');
    expect(classOf('Activity')).toBeNull();
    expect(classOf('InjectionPoint')).toBe('Other');
  });

  it('groups a statement with other constants together', () => {
    expect(normalizeQuery("UPDATE hot SET v = v + 1 WHERE id = 42 AND name = 'it''s' -- note")).toBe('UPDATE hot SET v = v + ? WHERE id = ? AND name = ?');
    expect(normalizeQuery('SELECT * FROM t1 WHERE id IN (1, 2, 3) AND x = $1')).toBe('SELECT * FROM t1 WHERE id IN (?, ...) AND x = $1');
  });
});

describe('summary and hypothesis', () => {
  it('a lock pile-up: Lock leads, the statement and its application on top, contention', () => {
    const s = summarize(samples(10, pileUp), { cpus: 4 });
    expect(s.aas).toBeCloseTo(20);
    expect(s.byClass.Lock).toBeCloseTo(20);
    expect(s.topWaitEvents[0]).toMatchObject({ class: 'Lock', event: 'tuple' });
    expect(s.topStatements).toHaveLength(1);
    expect(s.topStatements[0]).toMatchObject({ query: 'UPDATE hot SET v = v + ? WHERE id = ?', share: 1 });
    expect(s.topStatements[0]?.applications[0]?.name).toBe('pile-up');
    expect(s.hypothesis).toMatchObject({ kind: 'contention', class: 'Lock' });
  });

  it('CPU over the CPU count is CPU-bound; within it, busy; unknown CPUs say so', () => {
    expect(summarize(samples(10, onCpu(6)), { cpus: 4 }).hypothesis).toMatchObject({ kind: 'cpu-bound', class: 'CPU' });
    expect(summarize(samples(10, onCpu(2)), { cpus: 4 }).hypothesis).toMatchObject({ kind: 'cpu', class: 'CPU' });
    const unknown = summarize(samples(10, onCpu(6)), { cpus: null }).hypothesis;
    expect(unknown).toMatchObject({ kind: 'cpu', class: 'CPU' });
    expect(unknown.line).toMatch(/--cpus/);
  });

  it('an idle server is idle; with hidden sessions it is not called idle', () => {
    expect(summarize(samples(10, []), { cpus: null }).hypothesis.kind).toBe('idle');
    const hidden = summarize(samples(10, [], { hidden: 3 }), { cpus: null, role: 'watcher' });
    expect(hidden.hidden).toBe(3);
    expect(hidden.hypothesis.kind).toBe('hidden');
    expect(hidden.hypothesis.line).toMatch(/watcher/);
  });

  it('a mix below half is "led by", and AAS is per sample', () => {
    const mixed = [...onCpu(2), session({ pid: 9, waitEventType: 'IO', waitEvent: 'DataFileRead' }), session({ pid: 10, waitEventType: 'LWLock', waitEvent: 'WALWrite' }), session({ pid: 11, waitEventType: 'Client', waitEvent: 'ClientRead' })];
    const s = summarize([...samples(5, mixed), ...samples(5, [], { t0: 1_000_500 })], { cpus: null });
    expect(s.aas).toBeCloseTo(2.5);
    expect(s.byClass.CPU).toBeCloseTo(1);
    expect(s.hypothesis.line).toMatch(/^mixed, led by CPU/);
  });

  it('per-second columns average the samples of each second', () => {
    const seconds = secondsOf([...samples(10, onCpu(2)), ...samples(10, onCpu(4), { t0: 1_001_000 })]);
    expect(seconds.map((s) => s.aas)).toEqual([2, 4]);
    expect(seconds.map((s) => s.samples)).toEqual([10, 10]);
  });
});

describe('screens', () => {
  const server = { versionNum: 170009, version: '17.9', inRecovery: false, currentUser: 'app', database: 'shop', canReadAllStats: true };
  const history = [...Array.from({ length: 30 }, (_, i) => samples(10, onCpu(1 + (i % 3)), { t0: 1_000_000 + i * 1000 })).flat(), ...Array.from({ length: 40 }, (_, i) => samples(10, [...pileUp, ...onCpu(2)], { t0: 1_030_000 + i * 1000 })).flat()];

  it.each([
    [80, 24],
    [100, 30],
    [200, 50],
    [60, 16],
  ])('a watch frame fits %ix%i, with the chart, the legend and the hypothesis', (width, height) => {
    for (const color of [false, true]) {
      const summary = summarize(history, { cpus: 4, top: 3, origin: 1_000_000 });
      const frame = renderWatchScreen({ address: 'app@db:5432/shop', intervalMs: 100, cpus: 4, seconds: secondsOf(history, 1_000_000), summary, now: 1_069_000, width, height, color });
      expect(frame.length).toBeLessThanOrEqual(height);
      for (const line of frame) expect(visible(line)).toBeLessThanOrEqual(width);
      const text = frame.join('\n').replace(ANSI, '');
      expect(text).toMatch(/CPU/);
      expect(text).toMatch(/4 CPUs/);
      expect(text).toMatch(/mostly Lock/);
      if (!color) {
        expect(text).toContain(`${GLYPHS.Lock} Lock`);
        expect(text).toContain(GLYPHS.Lock.repeat(5));
        expect(text).toContain(GLYPHS.CPU);
      } else {
        expect(frame.join('\n')).toContain('\x1b[31m█');
      }
    }
  });

  it('gives every class its own glyph', () => {
    expect(new Set(WAIT_CLASSES.map((c) => GLYPHS[c])).size).toBe(WAIT_CLASSES.length);
  });

  it('draws one column per second, newest on the right, and the CPU line where no bar covers it', () => {
    const seconds = secondsOf([...samples(10, onCpu(8), { t0: 0 }), ...samples(10, [], { t0: 1000 })], 0);
    const lines = chartLines({ seconds, cpus: 4, now: 1000, color: false }, 10, 8);
    const rows = lines.slice(0, 8).map((l) => l.slice(6));
    expect(rows.every((r) => r.length === 10)).toBe(true);
    expect(rows.map((r) => r[8]).join('')).toBe('########');
    expect(rows.some((r) => r[9] === '─')).toBe(true);
    expect(niceCeil(7)).toBe(8);
    expect(niceCeil(21)).toBe(25);
  });

  it('the table, Markdown and stream lines carry the numbers', () => {
    const report = activityReport(summarize(samples(10, pileUp), { cpus: 4 }), { server, address: 'app@db:5432/shop', intervalMs: 100, cpusSource: '--cpus' });
    expect(report.window).toMatchObject({ samples: 10, durationMs: 1000 });
    const table = renderActivityTable(report, { color: false, width: 80 });
    for (const line of table.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(table).toMatch(/Lock\s+20\.0\s+100%/);
    const markdown = renderActivityMarkdown(report);
    expect(markdown).toMatch(/\| Lock \| 20\.0 \| 100% \|/);
    expect(markdown).not.toMatch(/!\[/);
    expect(streamHeader().split(/\s+/)).toEqual(expect.arrayContaining(['AAS', ...WAIT_CLASSES]));
    expect(streamLine(secondsOf(samples(10, pileUp))[0] as never)).toMatch(/20\.0/);
  });
});
