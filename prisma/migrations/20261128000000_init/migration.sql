-- CreateEnum
CREATE TYPE "key_state" AS ENUM ('next', 'current', 'retired');

-- CreateTable
CREATE TABLE "oidc_payloads" (
    "model" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "grant_id" TEXT,
    "user_code" TEXT,
    "uid" TEXT,
    "expires_at" TIMESTAMPTZ(3),
    "consumed_at" TIMESTAMPTZ(3),

    CONSTRAINT "oidc_payloads_pkey" PRIMARY KEY ("model","id")
);

-- CreateTable
CREATE TABLE "signing_keys" (
    "kid" TEXT NOT NULL,
    "alg" TEXT NOT NULL,
    "public_jwk" JSONB NOT NULL,
    "encrypted" BYTEA NOT NULL,
    "state" "key_state" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activated_at" TIMESTAMPTZ(3),
    "retired_at" TIMESTAMPTZ(3),
    "retire_after" TIMESTAMPTZ(3),

    CONSTRAINT "signing_keys_pkey" PRIMARY KEY ("kid")
);

-- CreateTable
CREATE TABLE "cookie_keys" (
    "id" TEXT NOT NULL,
    "encrypted" BYTEA NOT NULL,
    "state" "key_state" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retire_after" TIMESTAMPTZ(3),

    CONSTRAINT "cookie_keys_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "oidc_payloads_grant_id_model_idx" ON "oidc_payloads"("grant_id", "model");

-- CreateIndex
CREATE INDEX "oidc_payloads_expires_at_idx" ON "oidc_payloads"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "oidc_payloads_model_user_code_key" ON "oidc_payloads"("model", "user_code");

-- CreateIndex
CREATE UNIQUE INDEX "oidc_payloads_model_uid_key" ON "oidc_payloads"("model", "uid");

-- CreateIndex
CREATE INDEX "signing_keys_state_idx" ON "signing_keys"("state");
