-- CreateIndex
CREATE INDEX "issued_tokens_audience_idx" ON "issued_tokens"("audience");

-- CreateIndex
CREATE INDEX "issued_tokens_actor_chain_idx" ON "issued_tokens" USING GIN ("actor_chain" jsonb_path_ops);

