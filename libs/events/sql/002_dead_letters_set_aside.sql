-- A dead letter can be set aside for good: superseded by a later revision of the same document,
-- or discarded by a person with a reason. HTTP documents waiting for their customer are parked
-- beside the consumer's own, numbered from a sequence of their own.
ALTER TABLE dead_letters DROP CONSTRAINT IF EXISTS dead_letters_status_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_status_check
    CHECK (status IN ('dead', 'waiting', 'redrive', 'resolved', 'superseded', 'discarded'));
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolution text;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolved_by text;
CREATE SEQUENCE IF NOT EXISTS dead_letters_parked_offset;
DROP INDEX IF EXISTS dead_letters_open_idx;
CREATE INDEX IF NOT EXISTS dead_letters_open_idx ON dead_letters (consumer, customer_id, id)
    WHERE status IN ('dead', 'waiting', 'redrive');
