-- Which transaction applied each event, and in what order: the batch consumer's test reads
-- both.
ALTER TABLE applied
    ADD COLUMN applied_in_transaction bigint NOT NULL DEFAULT txid_current(),
    ADD COLUMN applied_order bigserial NOT NULL;
