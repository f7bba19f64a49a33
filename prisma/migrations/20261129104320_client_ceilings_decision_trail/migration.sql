-- AlterTable
ALTER TABLE "clients" ADD COLUMN     "resources" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "issued_tokens" ADD COLUMN     "decision" JSONB;
