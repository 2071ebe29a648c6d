-- dialects: postgresql
-- An SCD2 model's watermark is its last extract and how many extracts it has
-- built ("2025-01-16|3"), longer than the ISO day of an incremental model. TEXT
-- holds what SQLite holds; the change is catalogue-only in PostgreSQL.
ALTER TABLE weir_models ALTER COLUMN watermark TYPE TEXT;
