-- Secret parts of job results (store/src/secrets.rs): sealed with an AEAD under DEZKY_SECRET_KEY
-- (nonce and ciphertext; the job's id is the associated data), erased at expires_at.
CREATE TABLE store_secrets (
    job_id      TEXT    PRIMARY KEY,
    sealed      BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX store_secrets_expiry ON store_secrets (expires_at);
