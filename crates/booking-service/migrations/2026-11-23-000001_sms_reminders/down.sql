ALTER TABLE appointments DROP COLUMN participant;
