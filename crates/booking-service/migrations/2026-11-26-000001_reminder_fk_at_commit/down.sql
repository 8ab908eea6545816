ALTER TABLE appointment_reminders
    ALTER CONSTRAINT appointment_reminders_appointment_id_fkey NOT DEFERRABLE;
