-- One row per user. username keeps its case for display; username_key is
-- its users.UsernameKey (trimmed, lower-cased in Go), and its unique index
-- makes usernames unique regardless of case. The key is computed in Go,
-- not with lower(), so that PostgreSQL and the file store agree on every
-- letter whatever the database's collation.
CREATE TABLE "{{table}}" (
	id                  text COLLATE "C" PRIMARY KEY,
	username            text NOT NULL,
	username_key        text COLLATE "C" NOT NULL,
	email               text NOT NULL DEFAULT '',
	name                text NOT NULL DEFAULT '',
	tenant_id           text COLLATE "C" NOT NULL DEFAULT '',
	roles               text[] NOT NULL DEFAULT '{}',
	attributes          jsonb NOT NULL DEFAULT '{}',
	password_hash       text NOT NULL DEFAULT '',
	disabled            boolean NOT NULL DEFAULT false,
	version             bigint NOT NULL,
	created_at          timestamptz NOT NULL,
	updated_at          timestamptz NOT NULL,
	password_changed_at timestamptz
);

CREATE UNIQUE INDEX "{{table}}_username_key" ON "{{table}}" (username_key);
