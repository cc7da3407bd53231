select count(*) from authors;
