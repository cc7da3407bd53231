-- Adding a primary key builds its index (and checks NOT NULL) under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE audit_log ADD PRIMARY KEY (id);
