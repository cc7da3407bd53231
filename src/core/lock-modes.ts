// PostgreSQL's table-level lock modes and which pairs conflict.
// https://www.postgresql.org/docs/current/explicit-locking.html#TABLE-LOCK-COMPATIBILITY
export const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
] as const;

export type LockMode = (typeof LOCK_MODES)[number];

// Rows of the docs' "Conflicting Lock Modes" table: the modes each mode conflicts with.
const CONFLICTS: Record<LockMode, readonly LockMode[]> = {
  AccessShareLock: ['AccessExclusiveLock'],
  RowShareLock: ['ExclusiveLock', 'AccessExclusiveLock'],
  RowExclusiveLock: ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareUpdateExclusiveLock: ['ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareLock: ['RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareRowExclusiveLock: ['RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ExclusiveLock: ['RowShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  AccessExclusiveLock: [...LOCK_MODES],
};

export function isLockMode(value: string): value is LockMode {
  return (LOCK_MODES as readonly string[]).includes(value);
}

export function conflicts(a: string, b: string): boolean {
  if (!isLockMode(a) || !isLockMode(b)) return true; // an unknown mode is assumed to conflict: fail closed
  return CONFLICTS[a].includes(b);
}

/** The stronger of two modes, by the docs' ordering (each later mode conflicts with a superset). */
export function strongerLock(a: LockMode, b: LockMode): LockMode {
  return LOCK_MODES.indexOf(a) >= LOCK_MODES.indexOf(b) ? a : b;
}

const ALIASES: Record<string, LockMode> = Object.fromEntries(
  LOCK_MODES.flatMap((mode) => {
    const bare = mode.replace(/Lock$/, '');
    const spaced = bare.replace(/([a-z])([A-Z])/g, '$1 $2');
    return [
      [mode.toLowerCase(), mode],
      [bare.toLowerCase(), mode],
      [spaced.toLowerCase(), mode],
      [spaced.toLowerCase().replace(/ /g, '-'), mode],
      [spaced.toLowerCase().replace(/ /g, '_'), mode],
    ];
  }),
);

/** Accepts `AccessExclusiveLock`, `ACCESS EXCLUSIVE`, `access-exclusive`, `ShareUpdateExclusive`. */
export function parseLockMode(input: string): LockMode | undefined {
  return ALIASES[input.trim().toLowerCase().replace(/\s+/g, ' ')];
}
