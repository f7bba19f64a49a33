-- CreateEnum
CREATE TYPE "agent_origin" AS ENUM ('admin', 'cimd', 'dcr');

-- CreateEnum
CREATE TYPE "client_domain_rule" AS ENUM ('allow', 'deny');

-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "expires_at" TIMESTAMPTZ(3),
ADD COLUMN     "first_used_at" TIMESTAMPTZ(3),
ADD COLUMN     "last_used_at" TIMESTAMPTZ(3),
ADD COLUMN     "origin" "agent_origin" NOT NULL DEFAULT 'admin',
ALTER COLUMN "owner_user_id" DROP NOT NULL;

-- AlterTable
ALTER TABLE "resource_servers" ADD COLUMN     "allow_dynamic_clients" BOOLEAN NOT NULL DEFAULT true;

-- CreateTable
CREATE TABLE "client_domains" (
    "domain" TEXT NOT NULL,
    "rule" "client_domain_rule" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "client_domains_pkey" PRIMARY KEY ("domain")
);

-- CreateIndex
CREATE INDEX "agents_origin_expires_at_idx" ON "agents"("origin", "expires_at");
