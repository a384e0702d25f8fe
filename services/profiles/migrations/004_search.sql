-- Substring search on names and registration numbers. The extension lives in public, so
-- that rebuilding the read model (which recreates its schema) leaves it alone.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
CREATE INDEX customers_name_trgm_idx ON customers USING gin (lower(legal_name) public.gin_trgm_ops);
CREATE INDEX customers_number_trgm_idx ON customers USING gin (registration_number public.gin_trgm_ops);
CREATE INDEX customers_list_idx ON customers (lower(legal_name), customer_id);
