-- The webhook sender claims each endpoint's most overdue deliveries in one statement for all led
-- accounts (a LATERAL per endpoint, bounded per endpoint; store/webhooks.h claim_due_deliveries):
-- this index answers each endpoint's probe without scanning the account's other endpoints' backlog.
CREATE INDEX IF NOT EXISTS wa_webhook_deliveries_endpoint_due
    ON wa_webhook_deliveries (webhook_id, next_attempt_at, id) WHERE state = 'pending';
