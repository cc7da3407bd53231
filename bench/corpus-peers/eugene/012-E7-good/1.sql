create unique index concurrently
    authors_name_unique on authors(name);
