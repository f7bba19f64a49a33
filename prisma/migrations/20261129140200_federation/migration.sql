-- CreateEnum
CREATE TYPE "trusted_issuer_purpose" AS ENUM ('workload', 'id_jag');

-- AlterEnum
ALTER TYPE "approval_source" ADD VALUE 'id_jag';

-- AlterEnum
ALTER TYPE "token_kind" ADD VALUE 'id_jag';

-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "remote_client_ids" JSONB NOT NULL DEFAULT '[]';

-- AlterTable
ALTER TABLE "approvals" ADD COLUMN     "assertion_jti" TEXT,
ADD COLUMN     "issuer" TEXT;

-- AlterTable
ALTER TABLE "resource_servers" ADD COLUMN     "authorization_server" TEXT;

-- CreateTable
CREATE TABLE "trusted_issuers" (
    "id" UUID NOT NULL,
    "issuer" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT '',
    "jwks" JSONB,
    "jwks_uri" TEXT,
    "purposes" "trusted_issuer_purpose"[],
    "allowed_clients" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "allowed_resources" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "trusted_issuers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "external_identities" (
    "issuer" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "external_identities_pkey" PRIMARY KEY ("issuer","subject")
);

-- CreateTable
CREATE TABLE "workload_identities" (
    "issuer" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "agent_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workload_identities_pkey" PRIMARY KEY ("issuer","subject")
);

-- CreateIndex
CREATE UNIQUE INDEX "trusted_issuers_issuer_key" ON "trusted_issuers"("issuer");

-- CreateIndex
CREATE INDEX "external_identities_user_id_idx" ON "external_identities"("user_id");

-- CreateIndex
CREATE INDEX "workload_identities_agent_id_idx" ON "workload_identities"("agent_id");

-- CreateIndex
CREATE UNIQUE INDEX "approvals_issuer_assertion_jti_key" ON "approvals"("issuer", "assertion_jti");

-- AddForeignKey
ALTER TABLE "external_identities" ADD CONSTRAINT "external_identities_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workload_identities" ADD CONSTRAINT "workload_identities_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

