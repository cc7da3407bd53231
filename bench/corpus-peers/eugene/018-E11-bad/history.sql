create table prices (
    price int not null
);
