DROP TABLE webhook_nonces;
DROP TABLE call_attempts;
