-- One row per session record. tenant, id and user_id hold Go strings in
-- the store's text encoding (NUL, backslash and bytes that are not UTF-8
-- are escaped with a backslash; every other string is stored as is), so
-- any string is a key and rows stay readable in psql. The "C" collation
-- compares them byte by byte, which is all equality needs and the fastest.
CREATE TABLE "{{table}}" (
	tenant     text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	user_id    text COLLATE "C" NOT NULL DEFAULT '',
	version    bigint NOT NULL,
	expires_at timestamptz NOT NULL,
	value      bytea NOT NULL,
	PRIMARY KEY (tenant, id)
);

-- The per-user index behind ListUser and DeleteUser. Anonymous sessions
-- (user_id '') are most rows and are never looked up by user.
CREATE INDEX "{{table}}_user_idx" ON "{{table}}" (tenant, user_id) WHERE user_id <> '';

-- The sweeper deletes expired rows oldest first.
CREATE INDEX "{{table}}_expires_idx" ON "{{table}}" (expires_at);
