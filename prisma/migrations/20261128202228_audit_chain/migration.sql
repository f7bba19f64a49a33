-- CreateTable
CREATE TABLE "audit_chain" (
    "seq" BIGINT NOT NULL,
    "event_id" UUID,
    "skipped" BOOLEAN NOT NULL DEFAULT false,
    "hmac" TEXT NOT NULL,
    "chained_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_chain_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "audit_checkpoints" (
    "id" BIGSERIAL NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "chain_hmac" TEXT NOT NULL,
    "anchor" BOOLEAN NOT NULL DEFAULT false,
    "signature" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_checkpoints_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "security_events" (
    "seq" BIGSERIAL NOT NULL,
    "jti" UUID NOT NULL,
    "audience" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "event" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "acknowledged_at" TIMESTAMPTZ(3),

    CONSTRAINT "security_events_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE UNIQUE INDEX "audit_checkpoints_last_seq_key" ON "audit_checkpoints"("last_seq");

-- CreateIndex
CREATE UNIQUE INDEX "security_events_jti_key" ON "security_events"("jti");

-- CreateIndex
CREATE INDEX "security_events_audience_acknowledged_at_seq_idx" ON "security_events"("audience", "acknowledged_at", "seq");

-- CreateIndex
CREATE INDEX "security_events_created_at_idx" ON "security_events"("created_at");

-- The audit log and its chain are append-only: rows are inserted, and deleted only by retention (whole checkpointed
-- prefixes); an UPDATE is refused outright. (Someone able to disable triggers can still edit rows: that is what the
-- HMAC chain and `agentauth audit verify` are for.)
CREATE FUNCTION agentauth_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON "audit_events" FOR EACH ROW EXECUTE FUNCTION agentauth_refuse_update();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE ON "audit_chain" FOR EACH ROW EXECUTE FUNCTION agentauth_refuse_update();
