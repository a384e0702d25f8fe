ALTER TABLE bureau_reports ADD COLUMN score_range jsonb;  -- {min, max}: the provider's scale
