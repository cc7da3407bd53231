create index concurrently
    authors_name_idx on authors (name);
