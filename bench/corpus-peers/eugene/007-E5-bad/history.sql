create table prices (
    id integer generated always as identity
        primary key,
    price int not null
);
