-- AlterTable
ALTER TABLE "cookie_keys" ADD COLUMN     "activated_at" TIMESTAMPTZ(3);

-- Backfill: the key in use was, in the usual case, current from its creation (the first start); a key that became
-- current through a rotation really started later, which no row recorded, so creation is the best earlier bound.
UPDATE "cookie_keys" SET "activated_at" = "created_at" WHERE "state" = 'current';
