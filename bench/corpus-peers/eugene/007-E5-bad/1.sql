set local lock_timeout = '2s';
alter table prices
    alter price set data type bigint;
