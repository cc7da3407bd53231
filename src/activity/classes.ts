// Wait classes: what an active session is doing, from pg_stat_activity.wait_event_type
// (https://www.postgresql.org/docs/current/monitoring-stats.html#WAIT-EVENT-TABLE).
// An active session with no wait event is on a CPU or queued for one: "CPU".
// The Activity class is left out of every count: PostgreSQL defines it as a process idle
// in its main loop (a walsender shows state 'active' with WalSenderMain while it waits).

export const WAIT_CLASSES = ['CPU', 'IO', 'Lock', 'LWLock', 'Client', 'IPC', 'Timeout', 'BufferPin', 'Extension', 'Other'] as const;
export type WaitClass = (typeof WAIT_CLASSES)[number];

const KNOWN = new Set<string>(WAIT_CLASSES);

/** The class of an active session's wait_event_type; null for the idle Activity class. */
export function classOf(waitEventType: string | null): WaitClass | null {
  if (waitEventType === null) return 'CPU';
  if (waitEventType === 'Activity') return null;
  return KNOWN.has(waitEventType) ? (waitEventType as WaitClass) : 'Other';
}

/** The states in which a session counts as active (running a statement). */
export function isActiveState(state: string | null): boolean {
  return state === 'active' || state === 'fastpath function call';
}

/** A counter per class, all at zero, in the display order. */
export function zeroByClass(): Record<WaitClass, number> {
  return Object.fromEntries(WAIT_CLASSES.map((c) => [c, 0])) as Record<WaitClass, number>;
}

/** AAS as people read it: two decimals below 1, one below 100, whole above. */
export function formatAas(value: number): string {
  if (value < 1) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return String(Math.round(value));
}

export function formatShare(share: number): string {
  const percent = share * 100;
  return `${percent > 0 && percent < 1 ? '<1' : Math.round(percent)}%`;
}
