// The order a schema change needs across a logical-replication publisher and its
// subscribers. PostgreSQL does not replicate DDL (https://www.postgresql.org/docs/current/logical-replication-restrictions.html):
// each side is migrated by hand, and the wrong order stops the subscriber's apply worker
// until the other side catches up. docs/replication.md has the same table for people.
import type { ReplicationChange, ReplicationChangeKind } from './migration-changes.js';

export type ReplicationOrder = 'subscribers-first' | 'publisher-first' | 'both';

export interface OrderRule {
  order: ReplicationOrder;
  /** What changes, as a noun phrase: "a new column". */
  what: string;
  /** Why that order, one sentence. */
  why: string;
}

const IDENTITY_WHY =
  'UPDATE and DELETE reach subscribers by the replica identity (the primary key unless REPLICA IDENTITY says otherwise): a subscriber needs a matching primary key or unique index before the publisher sends the new identity, and a published table left without one rejects every UPDATE and DELETE on the publisher';

export const ORDER_RULES: Record<Exclude<ReplicationChangeKind, 'drop-constraint'>, OrderRule> = {
  'add-column': {
    order: 'subscribers-first',
    what: 'a new column',
    why: 'the publisher sends the column with the first row written after the change, and a subscriber without it stops applying ("is missing replicated column") until the column exists there',
  },
  'drop-column': {
    order: 'publisher-first',
    what: 'a dropped column',
    why: 'while the publisher still sends the column, a subscriber without it stops applying; rows already sent with it keep needing it on the subscriber',
  },
  'drop-not-null': {
    order: 'subscribers-first',
    what: 'a dropped NOT NULL',
    why: 'once the publisher accepts NULLs it sends them, and a subscriber that still has NOT NULL stops applying',
  },
  'set-not-null': {
    order: 'both',
    what: 'a new NOT NULL',
    why: 'on the publisher first (after the backfill), and on a subscriber only once every row with a NULL has been applied there: a subscriber with NOT NULL stops applying at the first NULL it receives',
  },
  'alter-column-type': {
    order: 'both',
    what: 'a column type change',
    why: 'values travel as text and are converted with the subscriber\'s column type, so a subscriber stops applying at the first value its type cannot take: widen on the subscribers first, narrow on the publisher first, and keep both types compatible in between',
  },
  'add-constraint': {
    order: 'publisher-first',
    what: 'a new CHECK or UNIQUE constraint',
    why: 'a subscriber that rejects a row the publisher accepted stops applying; on the publisher first, no such row is sent any more',
  },
  'primary-key': { order: 'both', what: 'a primary key change', why: IDENTITY_WHY },
  'replica-identity': { order: 'both', what: 'a REPLICA IDENTITY change', why: IDENTITY_WHY },
  rename: {
    order: 'both',
    what: 'a rename',
    why: 'subscribers match tables and columns by name: a rename on either side alone stops applying until the other side matches; rename both while the subscription is disabled, or add, backfill and drop instead',
  },
  'drop-table': {
    order: 'publisher-first',
    what: 'a dropped table',
    why: 'on the subscriber first, changes still in flight for the table stop its apply worker; once the publisher has dropped it, refresh the subscription (ALTER SUBSCRIPTION ... REFRESH PUBLICATION) and drop it there',
  },
};

const DROPPED_CONSTRAINT: OrderRule = {
  order: 'subscribers-first',
  what: 'a dropped CHECK or UNIQUE constraint',
  why: 'once the publisher accepts rows the constraint rejected, a subscriber that still has it stops applying',
};

/** What the live catalog says about a dropped constraint: its contype, or undefined when not found. */
export type ConstraintTypeLookup = (name: string) => string | undefined;

/** The rule for a change; null when it needs no particular order (e.g. dropping a foreign key, which apply workers do not enforce). */
export function ruleFor(change: ReplicationChange, constraintType: ConstraintTypeLookup): OrderRule | null {
  if (change.kind !== 'drop-constraint') return ORDER_RULES[change.kind];
  const type = change.constraint === undefined ? undefined : constraintType(change.constraint);
  if (type === 'p') return { ...ORDER_RULES['primary-key'], what: 'a dropped primary key' };
  // Foreign keys are triggers, and apply workers run with session_replication_role = replica: not enforced there.
  if (type === 'f') return null;
  if (type === 'n') return ORDER_RULES['drop-not-null'];
  return DROPPED_CONSTRAINT;
}

/** "apply it on the subscribers first (sub_a, sub_b), then here" from the publisher's side. */
export function publisherStep(order: ReplicationOrder, subscribers: readonly string[]): string {
  const who = subscribers.length > 0 ? ` (${subscribers.join(', ')})` : '';
  switch (order) {
    case 'subscribers-first':
      return `apply it on the subscribers${who} first, then here on the publisher`;
    case 'publisher-first':
      return `apply it here on the publisher first, then on the subscribers${who}`;
    case 'both':
      return `it needs care on both sides, here and on the subscribers${who}`;
  }
}

/** The same step from a subscriber's side. */
export function subscriberStep(order: ReplicationOrder, subscription: string): string {
  switch (order) {
    case 'subscribers-first':
      return `apply it here (subscription ${subscription}) before the publisher`;
    case 'publisher-first':
      return `apply it on the publisher first, then here (subscription ${subscription})`;
    case 'both':
      return `it needs care here (subscription ${subscription}) and on the publisher`;
  }
}
