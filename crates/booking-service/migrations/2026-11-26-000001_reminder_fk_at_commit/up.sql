-- A new appointment's row, its reminders and its outbox row are sent together in one round
-- trip, and Postgres runs them in the order diesel-async issues their executions: a statement
-- the connection has not prepared yet is executed a round trip after one it has. Checked at
-- COMMIT, a reminder's reference to its appointment holds whichever of the two inserts runs
-- first. ON DELETE CASCADE is not deferred (Postgres never defers referential actions).
ALTER TABLE appointment_reminders
    ALTER CONSTRAINT appointment_reminders_appointment_id_fkey DEFERRABLE INITIALLY DEFERRED;
