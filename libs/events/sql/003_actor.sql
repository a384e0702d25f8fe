-- Who made each change: the person or machine client behind the request, or the service whose
-- event caused it.
ALTER TABLE events ADD COLUMN IF NOT EXISTS actor text;
