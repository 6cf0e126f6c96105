-- When the person behind a session last proved who they are (signed in, or re-entered
-- their password for a sensitive change). Sensitive changes within a few minutes of it
-- need no password again (ASVS 3.7.1); a session rotated by a privilege change keeps
-- the time of the proof, not of the rotation. Existing sessions count from their start.
ALTER TABLE sessions ADD COLUMN authenticated_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET authenticated_at = created_at;
