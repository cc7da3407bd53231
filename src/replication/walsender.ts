// Which publications a logical walsender streams. The publisher's catalogs do not tie a
// slot to publications: the subscriber names them when it starts streaming, and the
// walsender's pg_stat_activity.query keeps that command, e.g.
//   START_REPLICATION SLOT "sub1" LOGICAL 0/0 (proto_version '4', publication_names '"pub1","pub2"')
// (visible to pg_read_all_stats / pg_monitor only; observed on 14 and 18).

/** The publication names in a START_REPLICATION command, or null when it is not one (hidden, another command, cut short). */
export function publicationsOfCommand(command: string | null | undefined): string[] | null {
  if (!command || !/^\s*START_REPLICATION\b/i.test(command)) return null;
  const match = /\bpublication_names\s+'((?:[^']|'')*)'/i.exec(command);
  if (!match) return null;
  const list = (match[1] as string).replace(/''/g, "'");
  const names: string[] = [];
  let i = 0;
  while (i < list.length) {
    while (list[i] === ' ' || list[i] === ',') i += 1;
    if (i >= list.length) break;
    if (list[i] === '"') {
      let name = '';
      i += 1;
      for (;;) {
        if (i >= list.length) return null;
        if (list[i] === '"' && list[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (list[i] === '"') {
          i += 1;
          break;
        } else {
          name += list[i];
          i += 1;
        }
      }
      names.push(name);
    } else {
      const end = list.indexOf(',', i);
      // An unquoted identifier is folded to lower case, as the walsender reads it.
      names.push(list.slice(i, end < 0 ? list.length : end).trim().toLowerCase());
      i = end < 0 ? list.length : end;
    }
  }
  return names;
}

/** Slots the tablesync workers create for a subscription's initial copy: pg_<subid>_sync_<relid>_<sysid>. */
export function isTableSyncSlot(slotName: string): boolean {
  return /^pg_\d+_sync_\d+_\d+$/.test(slotName);
}
