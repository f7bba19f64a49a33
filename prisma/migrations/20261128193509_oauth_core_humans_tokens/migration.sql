-- CreateEnum
CREATE TYPE "user_status" AS ENUM ('active', 'disabled');

-- CreateEnum
CREATE TYPE "client_kind" AS ENUM ('app', 'agent');

-- CreateEnum
CREATE TYPE "token_kind" AS ENUM ('access_token', 'refresh_token');

-- CreateEnum
CREATE TYPE "principal_kind" AS ENUM ('human', 'agent', 'app');

-- CreateTable
CREATE TABLE "users" (
    "id" UUID NOT NULL,
    "username" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "display_name" TEXT,
    "status" "user_status" NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "login_throttles" (
    "key" TEXT NOT NULL,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "last_failure_at" TIMESTAMPTZ(3) NOT NULL,
    "blocked_until" TIMESTAMPTZ(3),

    CONSTRAINT "login_throttles_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "clients" (
    "id" TEXT NOT NULL,
    "kind" "client_kind" NOT NULL,
    "name" TEXT NOT NULL,
    "metadata" JSONB NOT NULL,
    "secret_hash" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "clients_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "resource_servers" (
    "id" UUID NOT NULL,
    "identifier" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "scopes" JSONB NOT NULL,
    "access_token_ttl" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "resource_servers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "issued_tokens" (
    "jti" TEXT NOT NULL,
    "kind" "token_kind" NOT NULL,
    "format" TEXT NOT NULL,
    "parent_jti" TEXT,
    "subject" TEXT NOT NULL,
    "subject_kind" "principal_kind" NOT NULL,
    "actor_chain" JSONB NOT NULL DEFAULT '[]',
    "client_id" TEXT NOT NULL,
    "scopes" TEXT[],
    "audience" TEXT,
    "grant_type" TEXT NOT NULL,
    "grant_id" TEXT,
    "approval_id" TEXT,
    "dpop_jkt" TEXT,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),
    "revocation_reason" TEXT,

    CONSTRAINT "issued_tokens_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "seq" BIGSERIAL NOT NULL,
    "id" UUID NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "action" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "actor_kind" TEXT NOT NULL,
    "actor_id" TEXT,
    "user_id" TEXT,
    "agent_id" TEXT,
    "actor_chain" JSONB,
    "client_id" TEXT,
    "request_id" TEXT,
    "ip" TEXT,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_username_key" ON "users"("username");

-- CreateIndex
CREATE UNIQUE INDEX "resource_servers_identifier_key" ON "resource_servers"("identifier");

-- CreateIndex
CREATE INDEX "issued_tokens_client_id_issued_at_idx" ON "issued_tokens"("client_id", "issued_at");

-- CreateIndex
CREATE INDEX "issued_tokens_subject_issued_at_idx" ON "issued_tokens"("subject", "issued_at");

-- CreateIndex
CREATE INDEX "issued_tokens_grant_id_idx" ON "issued_tokens"("grant_id");

-- CreateIndex
CREATE INDEX "issued_tokens_parent_jti_idx" ON "issued_tokens"("parent_jti");

-- CreateIndex
CREATE INDEX "issued_tokens_approval_id_idx" ON "issued_tokens"("approval_id");

-- CreateIndex
CREATE INDEX "issued_tokens_expires_at_idx" ON "issued_tokens"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_id_key" ON "audit_events"("id");

-- CreateIndex
CREATE INDEX "audit_events_occurred_at_idx" ON "audit_events"("occurred_at");

-- CreateIndex
CREATE INDEX "audit_events_user_id_occurred_at_idx" ON "audit_events"("user_id", "occurred_at");

-- CreateIndex
CREATE INDEX "audit_events_agent_id_occurred_at_idx" ON "audit_events"("agent_id", "occurred_at");

-- CreateIndex
CREATE INDEX "audit_events_action_occurred_at_idx" ON "audit_events"("action", "occurred_at");
