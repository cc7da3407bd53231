alter table authors add column email text;
