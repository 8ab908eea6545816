DROP TABLE reminder_jobs;
DROP TABLE appointments;
