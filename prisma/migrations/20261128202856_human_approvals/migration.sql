-- CreateEnum
CREATE TYPE "ciba_request_status" AS ENUM ('pending', 'approved', 'denied');

-- CreateTable
CREATE TABLE "agent_blocks" (
    "user_id" UUID NOT NULL,
    "agent_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agent_blocks_pkey" PRIMARY KEY ("user_id","agent_id")
);

-- CreateTable
CREATE TABLE "ciba_requests" (
    "id" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "agent_id" TEXT NOT NULL,
    "scopes" TEXT[],
    "resources" TEXT[],
    "binding_message" TEXT,
    "status" "ciba_request_status" NOT NULL DEFAULT 'pending',
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "last_polled_at" TIMESTAMPTZ(3),
    "answered_at" TIMESTAMPTZ(3),
    "approval_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ciba_requests_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "agent_blocks_agent_id_idx" ON "agent_blocks"("agent_id");

-- CreateIndex
CREATE INDEX "ciba_requests_user_id_status_expires_at_idx" ON "ciba_requests"("user_id", "status", "expires_at");

-- CreateIndex
CREATE INDEX "ciba_requests_agent_id_status_expires_at_idx" ON "ciba_requests"("agent_id", "status", "expires_at");
