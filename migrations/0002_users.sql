-- People who sign in to the web form. Passwords are argon2id hashes (argon2-cffi); the role decides what the
-- form offers (only managers decide on plans), and the workflow checks the role again on every action.
CREATE TABLE users (
    username      text        PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('agent', 'manager', 'admin')),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
