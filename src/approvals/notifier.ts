// How a human hears that an agent is waiting for them (CIBA). Pluggable: the default writes a log line (the request
// is on /approvals either way); the webhook posts the event as JSON signed with HMAC-SHA256 so the receiver can tell
// it came from this server and was not replayed later (the timestamp is inside the signed text).
import { createHmac } from 'node:crypto';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';

export type ApprovalRequested = {
  type: 'approval.requested';
  /** The auth_req_id: the agent holds it; the receiver only needs it to correlate. */
  requestId: string;
  userId: string;
  agentId: string;
  agentName: string;
  bindingMessage: string | undefined;
  scopes: string[];
  resources: string[];
  expiresAt: Date;
};

export type ApprovalNotifier = { notify(event: ApprovalRequested): Promise<void> };

export function logNotifier(log: Logger): ApprovalNotifier {
  return {
    async notify(event) {
      log.info({ user_id: event.userId, agent_id: event.agentId, scopes: event.scopes, expires_at: event.expiresAt }, 'an agent is waiting for a human approval (see /approvals)');
    },
  };
}

export const SIGNATURE_HEADER = 'x-agentauth-signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe-style receivers expect. */
export function signPayload(secret: string, body: string, timestamp: number): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function webhookNotifier(options: { url: string; secret: string; log: Logger; timeoutMs?: number }): ApprovalNotifier {
  return {
    async notify(event) {
      const body = JSON.stringify({
        type: event.type,
        request_id: event.requestId,
        user_id: event.userId,
        agent_id: event.agentId,
        agent_name: event.agentName,
        binding_message: event.bindingMessage ?? null,
        scopes: event.scopes,
        resources: event.resources,
        expires_at: event.expiresAt.toISOString(),
      });
      const signature = signPayload(options.secret, body, Math.floor(Date.now() / 1000));
      try {
        const response = await fetch(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
          body,
          signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        });
        if (!response.ok) options.log.warn({ status: response.status }, 'approval webhook answered with an error');
      } catch (error) {
        options.log.warn({ err: error }, 'approval webhook could not be reached');
      }
    },
  };
}

/** Every notifier gets the event; the log line always. */
export function allNotifiers(...notifiers: ApprovalNotifier[]): ApprovalNotifier {
  return { notify: async (event) => void (await Promise.allSettled(notifiers.map((n) => n.notify(event)))) };
}

/** The notifiers the configuration asks for: always the log line, and the webhook when one is configured. */
export function approvalNotifier(config: Pick<Config, 'approvalWebhook'>, log: Logger): ApprovalNotifier {
  const notifiers = [logNotifier(log)];
  if (config.approvalWebhook) notifiers.push(webhookNotifier({ ...config.approvalWebhook, log }));
  return allNotifiers(...notifiers);
}
