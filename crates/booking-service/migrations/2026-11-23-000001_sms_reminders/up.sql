-- Who or what an appointment is with, as free text (the /reminder dialect's `participant`,
-- "Joe", "Dr. Lee"). Slot bookings leave it NULL: their agent is the participant.
ALTER TABLE appointments ADD COLUMN participant text;
