ALTER TYPE "status" RENAME VALUE 'done' TO 'completed';
