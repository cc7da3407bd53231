set local lock_timeout = '2s';
create index
    authors_name_idx on authors (name);
