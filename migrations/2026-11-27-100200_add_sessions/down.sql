ALTER TABLE refresh_tokens
    DROP COLUMN rotated_at,
    DROP COLUMN session_id;

DROP TABLE sessions;
