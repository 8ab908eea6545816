DROP TABLE reminder_calls;
