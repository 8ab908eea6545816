ALTER TABLE applied DROP COLUMN applied_order, DROP COLUMN applied_in_transaction;
