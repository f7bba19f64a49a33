-- AlterTable
ALTER TABLE "issued_tokens" ADD COLUMN     "resource" TEXT;
