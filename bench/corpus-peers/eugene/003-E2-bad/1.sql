set local lock_timeout = '2s';
alter table authors
    alter column name set not null;
