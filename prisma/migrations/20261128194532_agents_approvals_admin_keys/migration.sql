-- CreateEnum
CREATE TYPE "agent_status" AS ENUM ('active', 'suspended');

-- CreateEnum
CREATE TYPE "approval_status" AS ENUM ('active', 'revoked');

-- CreateEnum
CREATE TYPE "approval_source" AS ENUM ('consent', 'ciba', 'admin');

-- CreateEnum
CREATE TYPE "admin_role" AS ENUM ('admin', 'auditor');

-- CreateTable
CREATE TABLE "agents" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "owner_user_id" UUID NOT NULL,
    "status" "agent_status" NOT NULL DEFAULT 'active',
    "scopes" TEXT[],
    "audiences" TEXT[],
    "max_token_ttl" INTEGER NOT NULL,
    "suspended_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "agents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "approvals" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "agent_id" TEXT NOT NULL,
    "scopes" TEXT[],
    "resources" TEXT[],
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "status" "approval_status" NOT NULL DEFAULT 'active',
    "granted_via" "approval_source" NOT NULL,
    "grant_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),
    "revoked_reason" TEXT,

    CONSTRAINT "approvals_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "admin_keys" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" "admin_role" NOT NULL,
    "key_hash" TEXT NOT NULL,
    "created_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "admin_keys_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "agents_owner_user_id_idx" ON "agents"("owner_user_id");

-- CreateIndex
CREATE INDEX "approvals_user_id_agent_id_status_idx" ON "approvals"("user_id", "agent_id", "status");

-- CreateIndex
CREATE INDEX "approvals_agent_id_status_idx" ON "approvals"("agent_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "admin_keys_key_hash_key" ON "admin_keys"("key_hash");

-- AddForeignKey
ALTER TABLE "agents" ADD CONSTRAINT "agents_id_fkey" FOREIGN KEY ("id") REFERENCES "clients"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agents" ADD CONSTRAINT "agents_owner_user_id_fkey" FOREIGN KEY ("owner_user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE ON UPDATE CASCADE;
