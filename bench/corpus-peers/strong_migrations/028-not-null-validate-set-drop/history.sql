CREATE TABLE users (id bigserial PRIMARY KEY, name character varying, city character varying, credit_score numeric(10,5),
  deleted_at timestamp, country character varying(20), "interval" character varying, description text, order_id bigint, some_column text);
CREATE TABLE orders (id bigserial PRIMARY KEY);
CREATE TABLE cities_users (city_id bigint, user_id bigint);
ALTER TABLE "users" ADD CONSTRAINT "users_some_column_null" CHECK (some_column IS NOT NULL) NOT VALID;
