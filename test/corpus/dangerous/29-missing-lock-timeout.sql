-- No lock_timeout: the ALTER can queue behind a long transaction, and every query on orders queues behind it.
ALTER TABLE orders ADD COLUMN note text;
