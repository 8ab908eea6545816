CREATE TABLE applied (event_id uuid NOT NULL, reminder_id text NOT NULL);
