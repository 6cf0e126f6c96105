-- Live mask compliance: cameras, the violations they raise, and per-minute statistics.
--
-- A camera's URL may hold credentials: it is stored sealed (XChaCha20-Poly1305 under a
-- key derived from `secret_key`, purpose "source-url"), next to the redacted form shown
-- to users. Its analysis settings are one JSON document, validated by the application
-- (they change with the product more often than the columns should).
CREATE TABLE cameras (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    url_sealed   TEXT NOT NULL,
    url_redacted TEXT NOT NULL,
    enabled      BIGINT NOT NULL DEFAULT 1,
    settings     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- One row per track that went without a mask. The camera's name is copied so a
-- violation still says where it happened after the camera is renamed; deleting a camera
-- deletes its violations (and their pictures) in the application, blobs first.
CREATE TABLE violations (
    id           TEXT PRIMARY KEY,
    camera_id    TEXT NOT NULL,
    camera_name  TEXT NOT NULL,
    at           BIGINT NOT NULL,
    track        BIGINT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    zone         TEXT,
    bbox         TEXT NOT NULL,
    frame_width  BIGINT NOT NULL,
    frame_height BIGINT NOT NULL,
    frame_blob   TEXT,
    face_blob    TEXT,
    ack_by       TEXT,
    ack_at       BIGINT,
    ack_note     TEXT
);

CREATE INDEX violations_at ON violations (at);
CREATE INDEX violations_camera_at ON violations (camera_id, at);

-- Counters per camera and minute (`minute` is the bucket's start, Unix ms). Frames and
-- faces are added in batches every few seconds; `violations` is bumped in the same
-- transaction that stores the violation, so the two always agree. Hours and days are
-- sums over minutes.
CREATE TABLE camera_stats (
    camera_id  TEXT NOT NULL,
    minute     BIGINT NOT NULL,
    frames     BIGINT NOT NULL DEFAULT 0,
    analysed   BIGINT NOT NULL DEFAULT 0,
    skipped    BIGINT NOT NULL DEFAULT 0,
    faces      BIGINT NOT NULL DEFAULT 0,
    mask       BIGINT NOT NULL DEFAULT 0,
    no_mask    BIGINT NOT NULL DEFAULT 0,
    people     BIGINT NOT NULL DEFAULT 0,
    violations BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (camera_id, minute)
);

CREATE INDEX camera_stats_minute ON camera_stats (minute);
