DROP TABLE call_attempt_texts;
