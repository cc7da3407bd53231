ALTER TABLE "users" ADD "properties" json;
