-- dialects: postgresql
-- SQLite keeps VARCHAR values of any length; PostgreSQL refuses one longer than
-- declared, and these hold values weir does not bound to it: a batch id carries
-- its source's name (up to 63 characters), a stream position an MQTT topic or a
-- Kafka group, a file its path, the audit log the user and role as given (a
-- refused request's may be anything), a flagged day its dataset as given. TEXT
-- holds what SQLite holds; the change is catalogue-only in PostgreSQL.
ALTER TABLE weir_batches ALTER COLUMN batch_id TYPE TEXT;
ALTER TABLE weir_files ALTER COLUMN path TYPE TEXT;
ALTER TABLE weir_files ALTER COLUMN batch_id TYPE TEXT;
ALTER TABLE weir_stream_positions ALTER COLUMN stream TYPE TEXT;
ALTER TABLE weir_stream_positions ALTER COLUMN batch_id TYPE TEXT;
ALTER TABLE weir_audit ALTER COLUMN user_name TYPE TEXT;
ALTER TABLE weir_audit ALTER COLUMN role TYPE TEXT;
ALTER TABLE weir_flagged_days ALTER COLUMN dataset TYPE TEXT;
