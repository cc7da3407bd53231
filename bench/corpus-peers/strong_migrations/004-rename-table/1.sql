ALTER TABLE "users" RENAME TO "customers";
