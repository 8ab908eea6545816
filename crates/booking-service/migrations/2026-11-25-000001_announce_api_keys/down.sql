-- Nothing to undo: announcing a key again is harmless (consumers key it by key_id), and
-- events already published cannot be taken back.
SELECT 1;
