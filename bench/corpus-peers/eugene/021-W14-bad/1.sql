create unique index concurrently
    authors_name_key on authors(name);
